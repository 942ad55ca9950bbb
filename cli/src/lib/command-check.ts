/**
 * Checks an `imctl ...` command line against the CLI's own command table: the subcommands exist, and every
 * flag belongs to that command (or the program). Used to keep the README, docs/, runbooks and CI workflows honest.
 * `parseCommandLine` goes further: commander itself parses the line (arguments, option values, choices,
 * required options) and stops before the command would run.
 */
import { CommanderError, type Command, type Option } from "commander";

/** Splits a shell-ish command line, honouring simple quotes. */
export function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

/** Returns null when the line is valid, or why it is not. `args` excludes the leading `imctl`. */
export function checkCommandLine(program: Command, args: string[]): string | null {
  let cmd = program;
  const options: Option[] = [...program.options];
  let i = 0;
  for (; i < args.length; i++) {
    const w = args[i] ?? "";
    if (w.startsWith("-")) break;
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (!sub) {
      if (cmd.commands.length > 0)
        return `"${w}" is not a command of "${cmd.name()}" (allowed: ${cmd.commands.map((c) => c.name()).join(", ")})`;
      break; // a positional argument of a leaf command
    }
    cmd = sub;
    options.push(...sub.options);
  }
  if (cmd.commands.length > 0 && cmd.registeredArguments.length === 0)
    return `"${cmd.name()}" needs a subcommand (${cmd.commands.map((c) => c.name()).join(", ")})`;
  for (const w of args.slice(i)) {
    if (!w.startsWith("-") || w === "-" || w === "--") continue;
    const flag = w.split("=")[0] ?? w;
    if (!options.some((o) => o.long === flag || o.short === flag))
      return `"${flag}" is not an option of "${cmd.name()}"`;
  }
  return null;
}

/** Every `imctl ...` command line in a text (runbook, workflow), from `npx imctl`, `imctl` or `npm run imctl --`. */
export function commandLines(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(/(?:npx\s+imctl|npm run imctl --|(?<![\w/-])imctl)\s+((?:"[^"\n]*"|[^\n`|>&;)"])*)/g)) {
    // A shell comment ends the command line.
    const w = words((m[1] ?? "").replace(/\$\{\{[^}]*\}\}/g, "X").replace(/(^|\s)#.*$/, ""));
    if (w.length > 0 && /^[a-z]/.test(w[0] ?? "")) out.push(w);
  }
  return out;
}

/**
 * Every npm script a text runs: `npm start`, `npm test`, `npm run <script>` (`npm run imctl -- ...` included, whose
 * imctl line `commandLines` checks). Each must be a script of package.json.
 */
export function npmScripts(text: string): string[] {
  return [...text.matchAll(/(?<![\w/-])npm (?:(start|test)\b|run(?:-script)? ([\w:.-]+))/g)].map(
    (m) => m[1] ?? m[2] ?? "",
  );
}

/**
 * The anchors a Markdown page's headings get, as GitHub makes them: lower case, punctuation dropped, spaces to
 * hyphens, a repeated heading numbered (`-1`, `-2`). Code fences are skipped.
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = (m[1] ?? "")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Thrown by the pre-action hook: the line parsed and the command would now run. */
class ParsedLine extends Error {}

function everyCommand(c: Command): Command[] {
  return [c, ...c.commands.flatMap(everyCommand)];
}

/**
 * Parses a command line with commander, exactly as imctl would, without running it. Returns null when the line is
 * valid, or commander's error: a missing argument or required option, a value its parser rejects, a choice not
 * allowed, an excess argument. `build` makes a fresh command table (commander keeps parsed state on it).
 */
export async function parseCommandLine(build: () => Command, args: string[]): Promise<string | null> {
  const program = build();
  let errors = "";
  for (const c of everyCommand(program)) {
    c.exitOverride();
    c.configureOutput({ writeOut: () => undefined, writeErr: (s) => (errors += s), outputError: (s) => (errors += s) });
  }
  program.hook("preAction", () => {
    throw new ParsedLine();
  });
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof ParsedLine) return null;
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return null; // --help, --version
      // A command group given no subcommand prints its help as an error.
      if (err.code === "commander.help") return `"${args.join(" ")}" needs a subcommand`;
      return errors.trim().split("\n")[0] || err.message;
    }
    throw err;
  }
  // A command group without an action (e.g. `imctl local`) prints its help and returns.
  return `"${args.join(" ")}" runs no command`;
}
