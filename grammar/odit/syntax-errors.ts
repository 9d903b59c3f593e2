/**
 * .odit syntax errors (OD1102) in words a user can act on: the recognition errors chevrotain's recovery
 * collected, the stray tokens the grammar's error production consumed, and brackets still open at the end.
 * Expression errors inside a .odit file get the same wording as in YAML strings (grammar/expr/syntax-errors).
 */
import { tokenMatcher, type CstNode, type IRecognitionException, type IToken } from "chevrotain";
import {
  isRealToken,
  openBracket,
  place,
  scanBrackets,
  sentence,
  readDescriptor,
  shown,
  siteOf,
  tokenRange,
  unclosed,
  wordExpressionError,
  type ErrorContext,
  type ErrorDescriptor,
  type ErrorSite,
  type SyntaxProblem,
  type Worded,
} from "../expr/syntax-errors.js";
import { LBracket, RBracket } from "../expr/tokens.js";
import { LCurly, RCurly } from "./tokens.js";

function after(site: ErrorSite): string {
  return isRealToken(site.previous) ? ` after \`${site.previous.image}\`` : "";
}

function found(site: ErrorSite, ctx: ErrorContext): string {
  return `, found ${shown(site.actual, ctx.endName)}`;
}

/** Whether some bracket of this kind was already named by another error. */
function claimedAny(ctx: ErrorContext, image: "{" | "["): boolean {
  return [...ctx.claimed].some((b) => b.image === image);
}

/** The wording of one recognition error; undefined when another error already names its cause. */
function wordOditError(d: ErrorDescriptor, site: ErrorSite, ctx: ErrorContext): Worded | undefined {
  const expression = wordExpressionError(d, site, ctx);
  if (expression) return expression;
  if (d.kind === "mismatch" && d.expected === RCurly.name) {
    const bracket = openBracket(site, ctx, "{");
    if (bracket && !site.actual) return unclosed(bracket, ctx);
    if (!bracket && !site.actual && claimedAny(ctx, "{")) return undefined;
    if (bracket) ctx.claimed.add(bracket);
    return { message: `expected a key or \`}\`${found(site, ctx)}`, at: "actual" };
  }
  if (d.kind === "mismatch" && d.expected === RBracket.name) {
    const bracket = openBracket(site, ctx, "[");
    if (bracket && !site.actual) return unclosed(bracket, ctx);
    if (!bracket && !site.actual && claimedAny(ctx, "[")) return undefined;
    if (bracket) ctx.claimed.add(bracket);
    return {
      message: `expected \`,\` or \`]\`${after(site)}${found(site, ctx)}`,
      at: "after-previous",
      hint: "list items are separated by commas: `[16, 18, 20]`",
    };
  }
  if (d.kind === "noViableAlt" && d.rule === "value") {
    return { message: `expected a value${after(site)}${found(site, ctx)}`, at: "after-previous" };
  }
  if (d.kind === "notAllInput" || (d.kind === "mismatch" && d.rule === "document")) {
    return { message: `unexpected ${shown(site.actual, ctx.endName)} after the file's value`, at: "actual" };
  }
  return { message: `unexpected ${shown(site.actual, ctx.endName)}${after(site)}`, at: "actual" };
}

/** Problems from chevrotain's recognition errors, in the order found. */
export function recognitionProblems(errors: readonly IRecognitionException[], ctx: ErrorContext): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  for (const e of errors) {
    const site = siteOf(e, ctx.tokens);
    const worded = wordOditError(readDescriptor(e), site, ctx);
    if (worded) problems.push(place(worded, site, ctx));
  }
  return problems;
}

function firstToken(node: CstNode): IToken | undefined {
  let first: IToken | undefined;
  for (const children of Object.values(node.children)) {
    for (const child of children) {
      const t = "image" in child ? child : firstToken(child);
      if (isRealToken(t) && (!first || t.startOffset < first.startOffset)) first = t;
    }
  }
  return first;
}

/** A `}` or `]` where it closes nothing the parser has open: an unclosed bracket of the other kind, or nothing. */
function strayCloser(token: IToken, ctx: ErrorContext): SyntaxProblem {
  const range = tokenRange(token, ctx.base);
  const open = scanBrackets(ctx.tokens, ctx.tokens.indexOf(token)).open;
  const inner = open[open.length - 1];
  if (inner && inner.image !== (token.image === "}" ? "{" : "[")) {
    ctx.claimed.add(inner);
    const closer = inner.image === "{" ? "}" : "]";
    const line = ctx.lineOf ? ` opened at line ${ctx.lineOf(inner.startOffset)}` : "";
    return {
      message: sentence(`expected \`${closer}\` to close the \`${inner.image}\`${line}, found \`${token.image}\``),
      range,
      related: [{ range: tokenRange(inner, ctx.base), message: `\`${inner.image}\` opened here` }],
    };
  }
  return { message: token.image === "}" ? "Unexpected `}`: no block is open here." : "Unexpected `]`: no list is open here.", range };
}

function strayProblem(token: IToken, inBlock: boolean, ctx: ErrorContext): SyntaxProblem {
  const range = tokenRange(token, ctx.base);
  if (tokenMatcher(token, RCurly) || tokenMatcher(token, RBracket)) return strayCloser(token, ctx);
  const expected = inBlock ? "a key or `}`" : "a key";
  if (tokenMatcher(token, LCurly) || tokenMatcher(token, LBracket)) {
    return { message: `Expected ${expected} before \`${token.image}\`.`, range, hint: "entries are written `key value`, such as `video { frames 16 }`" };
  }
  return { message: `Expected ${expected}, found \`${token.image}\`.`, range, hint: "entries are written `key value`; a list of values is written `[a, b]`" };
}

/** Commas of one list: exactly one between items, none before the first, at most one after the last. */
function commaProblems(list: CstNode, ctx: ErrorContext): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const elements: { token: IToken; comma: boolean }[] = [];
  for (const t of (list.children["Comma"] ?? []) as IToken[]) if (isRealToken(t)) elements.push({ token: t, comma: true });
  for (const item of (list.children["value"] ?? []) as CstNode[]) {
    const t = firstToken(item);
    if (t) elements.push({ token: t, comma: false });
  }
  elements.sort((a, b) => a.token.startOffset - b.token.startOffset);
  let previous: "open" | "comma" | "item" = "open";
  for (const { token, comma } of elements) {
    if (comma && previous !== "item") {
      problems.push({ message: sentence(`expected a list item before \`,\``), range: tokenRange(token, ctx.base) });
    } else if (!comma && previous === "item") {
      problems.push({
        message: sentence(`expected \`,\` before \`${token.image}\``),
        range: tokenRange(token, ctx.base),
        hint: "list items are separated by commas: `[16, 18, 20]`",
      });
    }
    previous = comma ? "comma" : "item";
  }
  return problems;
}

/**
 * Problems found in the CST itself: what the `stray` error production consumed, and the commas of lists.
 */
export function cstProblems(cst: CstNode, ctx: ErrorContext): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const stack: { node: CstNode; inBlock: boolean }[] = [{ node: cst, inBlock: false }];
  while (stack.length > 0) {
    const { node, inBlock } = stack.pop()!;
    if (node.name === "stray") {
      const t = firstToken(node);
      if (t) problems.push(strayProblem(t, inBlock, ctx));
      continue;
    }
    if (node.name === "list") problems.push(...commaProblems(node, ctx));
    for (const t of (node.children["keywordKey"] ?? []) as IToken[]) {
      if (!isRealToken(t)) continue;
      problems.push({
        message: `\`${t.image}\` is a keyword, not a key.`,
        range: tokenRange(t, ctx.base),
        hint: `write the key in quotes: \`"${t.image}"\``,
      });
    }
    for (const t of (node.children["stray"] ?? []).filter((c): c is IToken => "image" in c)) {
      if (isRealToken(t)) problems.push(strayProblem(t, inBlock, ctx));
    }
    for (const children of Object.values(node.children)) {
      for (const child of children) {
        if (!("image" in child)) stack.push({ node: child, inBlock: node.name === "block" ? true : node.name === "list" ? false : inBlock });
      }
    }
  }
  return problems;
}

/** Brackets never closed (still open at the end, or skipped over by a closer) that no other error has named. */
export function unclosedAtEnd(ctx: ErrorContext): SyntaxProblem[] {
  const { open, abandoned } = scanBrackets(ctx.tokens, ctx.tokens.length);
  const last = ctx.tokens[ctx.tokens.length - 1];
  const site: ErrorSite = { actual: undefined, previous: last, index: ctx.tokens.length };
  const atEnd = open.filter((b) => !ctx.claimed.has(b)).reverse().map((b) => place(unclosed(b, ctx), site, ctx));
  const skipped = abandoned
    .filter((b) => !ctx.claimed.has(b))
    .map((b) => ({ message: sentence(`\`${b.image}\` is never closed`), range: tokenRange(b, ctx.base) }));
  return [...skipped, ...atEnd];
}
