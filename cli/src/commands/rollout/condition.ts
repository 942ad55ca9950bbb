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
    if (!m)
      throw new Error(
        `allowed: numbers, result, stable, + - * / ( ), comparisons, && and ||; cannot read "${text.slice(pos).trim()}"`,
      );
    out.push(m[1] ?? "");
    pos = TOKEN.lastIndex;
  }
  return out;
}

export function parseCondition(text: string): Condition {
  const t = tokenize(text);
  let i = 0;
  let usesStable = false;
  const peek = () => t[i];
  const next = () => t[i++];
  const expect = (tok: string) => {
    if (next() !== tok)
      throw new Error(`allowed: a comparison such as "result <= 0.01"; expected "${tok}" at token ${i}`);
  };
  const atom = (): Expr => {
    const tok = next();
    if (tok === undefined) throw new Error('allowed: a comparison such as "result <= 0.01"; it ends too early');
    if (tok === "(") {
      const e = sum();
      expect(")");
      return e;
    }
    if (tok === "result") return { k: "var", name: "result" };
    if (tok === "stable") {
      usesStable = true;
      return { k: "var", name: "stable" };
    }
    if (/^\d/.test(tok)) return { k: "num", v: Number(tok) };
    throw new Error(`allowed: a comparison such as "result <= 0.01"; unexpected "${tok}"`);
  };
  const product = (): Expr => {
    let e = atom();
    while (peek() === "*" || peek() === "/") e = { k: "bin", op: next() as "*" | "/", a: e, b: atom() };
    return e;
  };
  const sum = (): Expr => {
    let e = product();
    while (peek() === "+" || peek() === "-") e = { k: "bin", op: next() as "+" | "-", a: e, b: product() };
    return e;
  };
  const cmp = (): Cond => {
    if (peek() === "(") {
      // "(a && b)" groups conditions, "(a + b) < c" groups an expression: try the first, fall back to the second.
      const at = i;
      try {
        next();
        const c = or();
        expect(")");
        if (!["<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/"].includes(peek() ?? "")) return c;
      } catch {
        // not a group of conditions
      }
      i = at;
    }
    const a = sum();
    const op = next();
    if (op !== "<" && op !== "<=" && op !== ">" && op !== ">=" && op !== "==" && op !== "!=")
      throw new Error(
        `allowed: a comparison such as "result <= 0.01"; expected <, <=, >, >=, == or != but got ${op === undefined ? "the end" : `"${op}"`}`,
      );
    return { k: "cmp", c: { op, a, b: sum() } };
  };
  const and = (): Cond => {
    let c = cmp();
    while (peek() === "&&") {
      next();
      c = { k: "and", a: c, b: cmp() };
    }
    return c;
  };
  const or = (): Cond => {
    let c = and();
    while (peek() === "||") {
      next();
      c = { k: "or", a: c, b: and() };
    }
    return c;
  };
  const root = or();
  if (i !== t.length) throw new Error(`allowed: a comparison such as "result <= 0.01"; unexpected "${t[i]}"`);
  const value = (e: Expr, vars: { result: number; stable?: number }): number => {
    if (e.k === "num") return e.v;
    if (e.k === "var") {
      const v = e.name === "result" ? vars.result : vars.stable;
      if (v === undefined || !Number.isFinite(v)) throw new Error(`no data for ${e.name}`);
      return v;
    }
    const a = value(e.a, vars);
    const b = value(e.b, vars);
    return e.op === "+" ? a + b : e.op === "-" ? a - b : e.op === "*" ? a * b : a / b;
  };
  const holds = (c: Cond, vars: { result: number; stable?: number }): boolean => {
    if (c.k !== "cmp")
      return c.k === "and" ? holds(c.a, vars) && holds(c.b, vars) : holds(c.a, vars) || holds(c.b, vars);
    const a = value(c.c.a, vars);
    const b = value(c.c.b, vars);
    switch (c.c.op) {
      case "<":
        return a < b;
      case "<=":
        return a <= b;
      case ">":
        return a > b;
      case ">=":
        return a >= b;
      case "==":
        return a === b;
      case "!=":
        return a !== b;
    }
  };
  return { text, usesStable, evaluate: (vars) => holds(root, vars) };
}
