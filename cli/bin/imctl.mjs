#!/usr/bin/env node
// imctl is written in TypeScript and run through tsx, so the repository is its own install: `npx imctl`.
import { register } from "tsx/esm/api";

register();
await import("../src/index.ts");
