/**
 * Reading a file a user names (a stack, a bandwidth plan, a rollout strategy) with the limits every such file gets:
 * it must be a regular file (not a directory, a FIFO or /dev/zero), at most `limitBytes` long (read with a bounded
 * buffer, so a file that grows or lies about its size cannot make us allocate more), and valid UTF-8 YAML whose
 * aliases cannot expand into a bomb. Errors name the file and the limit, never the content.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parse as parseYaml, YAMLError } from "yaml";

/** Stack, plan and strategy files are a few KB; 1 MiB leaves room for comments and stays far from any memory limit. */
export const INPUT_FILE_LIMIT_BYTES = 1024 * 1024;

/** YAML aliases a file may use: enough for shared anchors, far too few for an alias bomb. */
export const MAX_YAML_ALIASES = 100;

/** A named input file that cannot be read or parsed; `message` names the file and the reason, never the content. */
export class InputFileError extends Error {
  override readonly name = "InputFileError";
}

const human = (bytes: number) =>
  bytes % 1024 ** 2 === 0 ? `${bytes / 1024 ** 2} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;

/** The text of `file`, refusing what is not a regular file or is larger than `limitBytes`. */
export function readInputFile(file: string, what: string, limitBytes = INPUT_FILE_LIMIT_BYTES): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new InputFileError(`${file}: cannot read the ${what} (${code})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? "a directory" : "not a regular file";
      throw new InputFileError(`${file}: the ${what} is ${kind}; allowed: a YAML file of at most ${human(limitBytes)}`);
    }
    const tooBig = () =>
      new InputFileError(
        `${file}: the ${what} is larger than the limit of ${human(limitBytes)} (a ${what} is a few KB of YAML)`,
      );
    if (st.size > limitBytes) throw tooBig();
    // Read at most limit + 1 bytes whatever the size said (a file under /proc says 0).
    const buf = Buffer.alloc(limitBytes + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > limitBytes) throw tooBig();
    }
    const text = buf.subarray(0, n).toString("utf8");
    if (text.includes("\u0000")) throw new InputFileError(`${file}: the ${what} is binary; allowed: a YAML file`);
    return text;
  } finally {
    closeSync(fd);
  }
}

/**
 * `text` parsed as YAML. A syntax error gives its line and column and the parser's reason (cut short; the parser's
 * code excerpt is left out), an alias bomb is named as one: both as InputFileError naming the file.
 */
export function parseInputYaml(text: string, file: string, what: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (err instanceof YAMLError) {
      const where = err.linePos?.[0];
      const reason = err.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? "";
      throw new InputFileError(
        `${file}${where ? `:${where.line}:${where.col}` : ""}: not valid YAML (${what}): ${reason.slice(0, 120)}`,
      );
    }
    if (err instanceof ReferenceError && /alias/i.test(err.message))
      throw new InputFileError(
        `${file}: the ${what} expands YAML aliases beyond the limit (${MAX_YAML_ALIASES}); allowed: plain YAML ` +
          `without alias chains`,
      );
    if (err instanceof RangeError)
      throw new InputFileError(`${file}: the ${what} nests too deeply to parse; allowed: a plain YAML document`);
    throw err;
  }
}
