/**
 * The import graph of the repository: every .ts/.mjs/.js file git tracks, with what it imports, read with the
 * TypeScript parser (so import-like text in strings and comments does not count). test/architecture.test.ts checks
 * the layering rules on it; `violations()` is the check itself, apart from git and the file system, so a test can
 * plant a violation in a made-up graph.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, normalize } from "node:path";
import ts from "typescript";
import { REPO_ROOT } from "../../base/root.mjs";

export interface ImportEdge {
  /** The specifier as written, e.g. "../lib/paths.ts", "node:fs", "zod". */
  spec: string;
  /** The repository file it resolves to (repo-relative), or null for a package or a builtin. */
  file: string | null;
  kind: "builtin" | "package" | "file";
  /** Erased at run time (`import type`, or only `type` names). */
  typeOnly: boolean;
  /** `import("…")` at run time: loaded lazily, so it cannot close a load-time cycle. */
  dynamic: boolean;
}

/** repo-relative file -> its imports */
export type ImportGraph = Map<string, ImportEdge[]>;

const SOURCE = /\.(ts|mts|mjs|js)$/;
const BUILTINS = new Set(builtinModules);

function isBuiltin(spec: string): boolean {
  return spec.startsWith("node:") || BUILTINS.has(spec.split("/")[0] ?? spec);
}

function edge(from: string, spec: string, typeOnly: boolean, dynamic: boolean): ImportEdge {
  if (spec.startsWith(".")) {
    const target = normalize(join(dirname(from), spec));
    return { spec, file: target, kind: "file", typeOnly, dynamic };
  }
  return { spec, file: null, kind: isBuiltin(spec) ? "builtin" : "package", typeOnly, dynamic };
}

/** The imports of one file's text (static imports, re-exports and dynamic `import()` with a literal). */
export function importsOf(path: string, text: string): ImportEdge[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false);
  const out: ImportEdge[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypeNames =
        clause !== undefined &&
        clause.name === undefined &&
        named !== undefined &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((e) => e.isTypeOnly);
      const typeOnly = clause?.isTypeOnly === true || allTypeNames;
      out.push(edge(path, node.moduleSpecifier.text, typeOnly, false));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(edge(path, node.moduleSpecifier.text, node.isTypeOnly, false));
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      out.push(edge(path, node.arguments[0].text, false, true));
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const lit = node.argument.literal;
      if (ts.isStringLiteral(lit)) out.push(edge(path, lit.text, true, false));
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The graph of every tracked source file under the repository root. */
export function repoImportGraph(root: string = REPO_ROOT): ImportGraph {
  const listed = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" }).split("\0");
  const files = new Set(listed.filter((f) => SOURCE.test(f) && existsSync(join(root, f))));
  const graph: ImportGraph = new Map();
  for (const f of files) graph.set(f, importsOf(f, readFileSync(join(root, f), "utf8")));
  return graph;
}

const under = (dir: string) => (file: string) => file.startsWith(`${dir}/`);

/** Runtime import cycles (static imports only, type-only ones left out), each as a list of files. */
export function runtimeCycles(graph: ImportGraph): string[][] {
  const next = (f: string) =>
    (graph.get(f) ?? []).filter((e) => e.kind === "file" && !e.typeOnly && !e.dynamic && graph.has(e.file ?? ""));
  // Tarjan's strongly connected components: every component of more than one file (or a self-import) is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const e of next(v)) {
      const w = e.file as string;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || next(v).some((e) => e.file === v)) cycles.push(comp.sort());
    }
  };
  for (const f of [...graph.keys()].sort()) if (!idx.has(f)) strong(f);
  return cycles;
}

/**
 * The layering rules, as one message per offending import:
 * - base/ imports only node builtins and base/;
 * - services/ and infra/ never import cli/;
 * - nothing imports scripts/ (scripts are entry points, not libraries);
 * - loadtests/ (k6 code, not Node) imports only loadtests/ and k6 modules.
 */
export function violations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [file, edges] of graph) {
    for (const e of edges) {
      const target = e.file ?? e.spec;
      const say = (rule: string) => out.push(`${file} imports ${e.spec}: ${rule}`);
      if (under("base")(file) && !(e.kind === "builtin" || (e.kind === "file" && under("base")(target))))
        say("base/ imports only node builtins and base/");
      if ((under("services")(file) || under("infra")(file)) && e.kind === "file" && under("cli")(target))
        say("services/ and infra/ never import cli/");
      if (e.kind === "file" && under("scripts")(target)) say("scripts/ are entry points, never imported");
      if (under("loadtests")(file)) {
        const k6 = e.spec === "k6" || e.spec.startsWith("k6/") || e.spec.startsWith("https://jslib.k6.io/");
        if (!(k6 || (e.kind === "file" && under("loadtests")(target))))
          say("loadtests/ imports only loadtests/ and k6 modules");
      }
    }
  }
  return out;
}
