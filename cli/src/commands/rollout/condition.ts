/**
 * Success and failure conditions of an analysis metric, e.g. `result <= 0.01` or
 * `result <= stable * 2 + 0.05 && result < 1`. A deliberately small language (numbers, `result`, `stable`,
 * + - * /, parentheses, comparisons, && and ||), parsed once when the strategy is validated: a strategy file is
 * outside input and is never handed to an evaluator of arbitrary code.
 */

type Expr =
  | { k: "num"; v: number }
  | { k: "var"; name: "result" | "stable" }
  | { k: "bin"; op: "+" | "-" | "*" | "/"; a: Expr; b: Expr };
type Cmp = { op: "<" | "<=" | ">" | ">=" | "==" | "!="; a: Expr; b: Expr };
type Cond = { k: "cmp"; c: Cmp } | { k: "and" | "or"; a: Cond; b: Cond };

export interface Condition {
  text: string;
  /** True when the condition compares against the stable version (the query is then run for it too). */
  usesStable: boolean;
  /** NaN anywhere (no data) makes the comparison throw: a measurement without data is an Error, not a pass. */
  evaluate(vars: { result: number; stable?: number }): boolean;
}

const TOKEN = /\s*(\d+(?:\.\d+)?(?:e-?\d+)?|result|stable|<=|>=|==|!=|&&|\|\||[-+*/()<>])/y;

function tokenize(text: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) {
      const rest = text.slice(pos).trim();
      throw new Error(`allowed: numbers, result, stable, + - * / ( ), comparisons, && and ||; cannot read "${rest}"`);
    }
    out.push(m[1] ?? "");
    pos = TOKEN.lastIndex;
  }
  return out;
}

const CMP_OPS = ["<", "<=", ">", ">=", "==", "!="] as const;
const isCmpOp = (tok: string | undefined): tok is Cmp["op"] => (CMP_OPS as readonly string[]).includes(tok ?? "");
const EXAMPLE = 'allowed: a comparison such as "result <= 0.01"';

/**
 * A recursive-descent parser, one method per rule, loosest first:
 * or := and ("||" and)*; and := cmp ("&&" cmp)*; cmp := "(" or ")" | sum op sum;
 * sum := product (("+" | "-") product)*; product := atom (("*" | "/") atom)*; atom := number | result | stable | "(" sum ")".
 */
class ConditionParser {
  private i = 0;
  /** Set when `stable` is read anywhere in the condition. */
  usesStable = false;

  constructor(private readonly t: string[]) {}

  parse(): Cond {
    const root = this.or();
    if (this.i !== this.t.length) throw new Error(`${EXAMPLE}; unexpected "${this.t[this.i]}"`);
    return root;
  }

  private peek(): string | undefined {
    return this.t[this.i];
  }

  private next(): string | undefined {
    return this.t[this.i++];
  }

  private expect(tok: string): void {
    if (this.next() !== tok) throw new Error(`${EXAMPLE}; expected "${tok}" at token ${this.i}`);
  }

  private or(): Cond {
    let c = this.and();
    while (this.peek() === "||") {
      this.next();
      c = { k: "or", a: c, b: this.and() };
    }
    return c;
  }

  private and(): Cond {
    let c = this.cmp();
    while (this.peek() === "&&") {
      this.next();
      c = { k: "and", a: c, b: this.cmp() };
    }
    return c;
  }

  private cmp(): Cond {
    const group = this.peek() === "(" ? this.conditionGroup() : undefined;
    if (group !== undefined) return group;
    const a = this.sum();
    const op = this.next();
    if (!isCmpOp(op))
      throw new Error(
        `${EXAMPLE}; expected <, <=, >, >=, == or != but got ${op === undefined ? "the end" : `"${op}"`}`,
      );
    return { k: "cmp", c: { op, a, b: this.sum() } };
  }

  /** "(a && b)" groups conditions, "(a + b) < c" groups an expression: try the first, fall back to the second. */
  private conditionGroup(): Cond | undefined {
    const at = this.i;
    try {
      this.next();
      const c = this.or();
      this.expect(")");
      if (!isCmpOp(this.peek()) && !["+", "-", "*", "/"].includes(this.peek() ?? "")) return c;
    } catch {
      // not a group of conditions
    }
    this.i = at;
    return undefined;
  }

  private sum(): Expr {
    let e = this.product();
    while (this.peek() === "+" || this.peek() === "-")
      e = { k: "bin", op: this.next() as "+" | "-", a: e, b: this.product() };
    return e;
  }

  private product(): Expr {
    let e = this.atom();
    while (this.peek() === "*" || this.peek() === "/")
      e = { k: "bin", op: this.next() as "*" | "/", a: e, b: this.atom() };
    return e;
  }

  private atom(): Expr {
    const tok = this.next();
    if (tok === undefined) throw new Error(`${EXAMPLE}; it ends too early`);
    if (tok === "(") {
      const e = this.sum();
      this.expect(")");
      return e;
    }
    if (tok === "result") return { k: "var", name: "result" };
    if (tok === "stable") {
      this.usesStable = true;
      return { k: "var", name: "stable" };
    }
    if (/^\d/.test(tok)) return { k: "num", v: Number(tok) };
    throw new Error(`${EXAMPLE}; unexpected "${tok}"`);
  }
}

type Vars = { result: number; stable?: number };

function value(e: Expr, vars: Vars): number {
  if (e.k === "num") return e.v;
  if (e.k === "var") {
    const v = e.name === "result" ? vars.result : vars.stable;
    if (v === undefined || !Number.isFinite(v)) throw new Error(`no data for ${e.name}`);
    return v;
  }
  const a = value(e.a, vars);
  const b = value(e.b, vars);
  return e.op === "+" ? a + b : e.op === "-" ? a - b : e.op === "*" ? a * b : a / b;
}

const COMPARE: Record<Cmp["op"], (a: number, b: number) => boolean> = {
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "==": (a, b) => a === b,
  "!=": (a, b) => a !== b,
};

function holds(c: Cond, vars: Vars): boolean {
  if (c.k !== "cmp") return c.k === "and" ? holds(c.a, vars) && holds(c.b, vars) : holds(c.a, vars) || holds(c.b, vars);
  const a = value(c.c.a, vars);
  const b = value(c.c.b, vars);
  return COMPARE[c.c.op](a, b);
}

export function parseCondition(text: string): Condition {
  const parser = new ConditionParser(tokenize(text));
  const root = parser.parse();
  return { text, usesStable: parser.usesStable, evaluate: (vars) => holds(root, vars) };
}
