/**
 * The policy pack, as the Pulumi engine runs it: `pulumi preview --policy-pack infra/policy` (every policy is
 * mandatory: a violation fails the preview). The policies themselves live in policies.ts, where the tests and
 * `imctl plan` reach them without the engine.
 */
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies.ts";

new PolicyPack("im-platform", {
  policies: [...POLICIES],
  enforcementLevel: "mandatory",
  description: "Guardrails of the IM platform: private data tier, encryption, no open ingress, tags, replicas.",
});
