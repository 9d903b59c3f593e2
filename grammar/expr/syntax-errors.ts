/**
 * Syntax errors of the chevrotain parsers, in words a user can act on. The parsers' message provider only
 * records what was expected and in which rule (as a small descriptor); the message is written afterwards here,
 * with the whole token list at hand: the previous token ("expected a degree after `dsp`"), the bracket left
 * open ("unclosed `[`"), and a position that survives chevrotain's EOF and inserted-token sentinels (NaN in
 * chevrotain 11, -1 from 13) by falling back to the previous token's end.
 */
import {
  EOF,
  tokenMatcher,
  type IParserErrorMessageProvider,
  type IRecognitionException,
  type IToken,
  type TokenType,
} from "chevrotain";
import type { Range } from "../source.js";
import { AXES } from "./types.js";
import { Comma, Every, In, Joiner, LBracket, NumberLiteral, RBracket, Word } from "./tokens.js";

/** What the provider recorded about one recognition error. */
export interface ErrorDescriptor {
  readonly kind: "mismatch" | "noViableAlt" | "earlyExit" | "notAllInput";
  /** The rule that was being parsed (for `notAllInput`: the start rule). */
  readonly rule: string;
  /** For `mismatch`: the token type that was expected. */
  readonly expected?: string;
}

const MARK = "opendit-descriptor:";

function encode(d: ErrorDescriptor): string {
  return MARK + JSON.stringify(d);
}

/** The provider both parsers install: it encodes a descriptor instead of chevrotain's default wording. */
export const descriptorProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, ruleName }) => encode({ kind: "mismatch", rule: ruleName, expected: expected.name }),
  buildNotAllInputParsedMessage: ({ ruleName }) => encode({ kind: "notAllInput", rule: ruleName }),
  buildNoViableAltMessage: ({ ruleName }) => encode({ kind: "noViableAlt", rule: ruleName }),
  buildEarlyExitMessage: ({ ruleName }) => encode({ kind: "earlyExit", rule: ruleName }),
};

export function readDescriptor(e: IRecognitionException): ErrorDescriptor {
  if (e.message.startsWith(MARK)) {
    try {
      return JSON.parse(e.message.slice(MARK.length)) as ErrorDescriptor;
    } catch {
      // Fall through: a message not written by our provider.
    }
  }
  return { kind: "noViableAlt", rule: e.context?.ruleStack?.at(-1) ?? "" };
}

/** False for chevrotain's EOF token and for tokens inserted by recovery (their offsets are NaN or -1). */
export function isRealToken(t: IToken | undefined): t is IToken {
  return t !== undefined && t.tokenType !== EOF && Number.isFinite(t.startOffset) && t.startOffset >= 0;
}

/** The half-open range of a real token, shifted by `base` (from its image: the lexers track start offsets only). */
export function tokenRange(t: IToken, base = 0): Range {
  return { start: base + t.startOffset, end: base + t.startOffset + t.image.length };
}

/** The offset just after a real token. */
export function tokenEnd(t: IToken): number {
  return t.startOffset + t.image.length;
}

export function isToken(t: IToken | undefined, type: TokenType): boolean {
  return isRealToken(t) && tokenMatcher(t, type);
}

/** `` `dsp` `` for a token, or the context's name for the end of the input. */
export function shown(t: IToken | undefined, endName: string): string {
  return isRealToken(t) ? `\`${t.image}\`` : endName;
}

/** Everything an error message needs besides the exception itself. */
export interface ErrorContext {
  /** The lexed tokens, in order (no EOF). */
  readonly tokens: readonly IToken[];
  /** File offset of the text's first character. */
  readonly base: number;
  /** How the end of the input is named: "the end of the file", "the end of the layout". */
  readonly endName: string;
  /** 1-based line of a text offset (not shifted by base); absent when lines do not matter. */
  readonly lineOf?: (offset: number) => number;
  /** Opening brackets already reported as unclosed, so a second EOF error names the next one out. */
  readonly claimed: Set<IToken>;
}

/** Where the error stands: the offending token, and the one before it in the text. */
export interface ErrorSite {
  readonly actual: IToken | undefined;
  readonly previous: IToken | undefined;
  readonly index: number;
}

export function siteOf(e: IRecognitionException, tokens: readonly IToken[]): ErrorSite {
  const actual = isRealToken(e.token) ? e.token : undefined;
  let index = actual ? tokens.indexOf(actual) : tokens.length;
  if (index < 0) index = tokens.findIndex((t) => t.startOffset >= actual!.startOffset);
  if (index < 0) index = tokens.length;
  return { actual, previous: tokens[index - 1], index };
}

/** A message and whether it is about the token found (underline it) or about something missing after the previous one. */
export interface Worded {
  readonly message: string;
  readonly at: "actual" | "after-previous";
  readonly hint?: string;
  readonly related?: readonly { readonly range: Range; readonly message: string }[];
}

export interface SyntaxProblem {
  readonly message: string;
  readonly range: Range;
  readonly hint?: string;
  readonly related?: readonly { readonly range: Range; readonly message: string }[];
}

/**
 * Places a worded error. Something missing after the previous token is shown right after it when the found
 * token is on another line (or is the end); otherwise the found token is underlined.
 */
export function place(worded: Worded, site: ErrorSite, ctx: ErrorContext): SyntaxProblem {
  const { actual, previous } = site;
  const prevEnd = isRealToken(previous) ? ctx.base + tokenEnd(previous) : undefined;
  let range: Range;
  const sameLine =
    actual !== undefined && isRealToken(previous) && ctx.lineOf !== undefined
      ? ctx.lineOf(actual.startOffset) === ctx.lineOf(tokenEnd(previous))
      : true;
  if (actual && (worded.at === "actual" || sameLine || prevEnd === undefined)) range = tokenRange(actual, ctx.base);
  else if (prevEnd !== undefined) range = { start: prevEnd, end: prevEnd };
  else range = { start: ctx.base, end: ctx.base };
  return {
    message: sentence(worded.message),
    range,
    ...(worded.hint !== undefined ? { hint: worded.hint } : {}),
    ...(worded.related && worded.related.length > 0 ? { related: worded.related } : {}),
  };
}

/** Messages are worded in lower case while being built, and shown as sentences. */
export function sentence(message: string): string {
  const capital = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.?!]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * Brackets (`{` and `[`, and `]`, `}` closers) matched over the tokens before `end`: a closer closes the
 * nearest opener of its kind, abandoning any other openers above it. Returns the openers left open and the
 * abandoned ones, in text order.
 */
export function scanBrackets(tokens: readonly IToken[], end: number): { readonly open: IToken[]; readonly abandoned: IToken[] } {
  const open: IToken[] = [];
  const abandoned: IToken[] = [];
  for (let i = 0; i < end && i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.image === "{" || t.image === "[") open.push(t);
    else if (t.image === "}" || t.image === "]") {
      const opener = t.image === "}" ? "{" : "[";
      const at = open.map((o) => o.image).lastIndexOf(opener);
      if (at >= 0) abandoned.push(...open.splice(at).slice(1));
    }
  }
  abandoned.sort((a, b) => a.startOffset - b.startOffset);
  return { open, abandoned };
}

/** The innermost bracket of the kind `open` still open where the error stands, skipping those already reported. */
export function openBracket(site: ErrorSite, ctx: ErrorContext, open: "{" | "["): IToken | undefined {
  const stack = scanBrackets(ctx.tokens, site.index).open;
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.image === open && !ctx.claimed.has(stack[i]!)) return stack[i];
  return undefined;
}

/** "unclosed `[` opened at line 3" (the line only where lines matter), with the bracket as related location. */
export function unclosed(bracket: IToken, ctx: ErrorContext): Worded {
  ctx.claimed.add(bracket);
  const where = ctx.lineOf ? ` opened at line ${ctx.lineOf(bracket.startOffset)}` : "";
  return {
    message: `unclosed \`${bracket.image}\`${where}`,
    at: "after-previous",
    related: [{ range: tokenRange(bracket, ctx.base), message: `\`${bracket.image}\` opened here` }],
  };
}

function found(site: ErrorSite, ctx: ErrorContext): string {
  return site.actual ? `, found ${shown(site.actual, ctx.endName)}` : "";
}

function after(site: ErrorSite): string {
  return isRealToken(site.previous) ? ` after \`${site.previous.image}\`` : "";
}

/** `dsp4` -> `dsp 4`: an axis glued to its degree. */
function gluedTerm(image: string): string | undefined {
  const m = /^([A-Za-z]+)(\d+)$/.exec(image);
  return m && (AXES as readonly string[]).includes(m[1]!.toLowerCase()) ? `${m[1]} ${m[2]}` : undefined;
}

/** Wording for errors inside the expression rules (layout, layoutTerm, window); undefined for other rules. */
export function wordExpressionError(d: ErrorDescriptor, site: ErrorSite, ctx: ErrorContext): Worded | undefined {
  const prev = site.previous;
  if (d.kind === "mismatch" && d.rule === "layoutTerm") {
    if (d.expected === NumberLiteral.name) {
      const glued = isRealToken(prev) ? gluedTerm(prev.image) : undefined;
      return {
        message: `expected a degree${after(site)}${found(site, ctx)}`,
        at: "after-previous",
        ...(glued ? { hint: `write \`${glued}\`, with a space between the axis and its degree` } : {}),
      };
    }
    const axes = AXES.join(", ");
    if (isToken(prev, Joiner)) return { message: `expected an axis after \`${prev!.image}\`${found(site, ctx)}`, at: "after-previous", hint: `axes: ${axes}` };
    return { message: `expected an axis name (${axes})${found(site, ctx)}`, at: "actual" };
  }
  if (d.kind === "mismatch" && d.rule === "window") {
    switch (d.expected) {
      case Every.name:
        return {
          message: `expected \`every N in [low, high]\` or \`off\`${found(site, ctx)}`,
          at: "actual",
          hint: "for example `every 2 in [450, 930]`",
        };
      case NumberLiteral.name: {
        const which = isToken(prev, Every)
          ? "the step interval N"
          : isToken(prev, LBracket)
            ? "the low bound"
            : isToken(prev, Comma)
              ? "the high bound"
              : "a number";
        return { message: `expected ${which}${which === "a number" ? "" : " (a number)"}${after(site)}${found(site, ctx)}`, at: "after-previous" };
      }
      case RBracket.name: {
        const bracket = openBracket(site, ctx, "[");
        if (bracket && !site.actual) return unclosed(bracket, ctx);
        if (bracket) ctx.claimed.add(bracket);
        return { message: `expected \`]\`${after(site)}${found(site, ctx)}`, at: "after-previous" };
      }
      case In.name: {
        const before = ctx.tokens[site.index - 2];
        const what = isToken(prev, NumberLiteral) && isToken(before, Every) ? `\`every ${prev!.image}\`` : isRealToken(prev) ? `\`${prev.image}\`` : "";
        return { message: `expected \`in\`${what ? ` after ${what}` : ""}${found(site, ctx)}`, at: "after-previous" };
      }
      case Comma.name:
        return { message: `expected \`,\` between the low and high bounds${found(site, ctx)}`, at: "after-previous" };
      default:
        return { message: `expected ${labelOf(d.expected)}${after(site)}${found(site, ctx)}`, at: "after-previous" };
    }
  }
  if (d.kind === "notAllInput" && d.rule === "layout") {
    if (isToken(site.actual, Word) && isToken(prev, NumberLiteral)) {
      return { message: `expected \`x\` before \`${site.actual!.image}\``, at: "actual", hint: "join terms with `x`, as in `cfg 2 x dsp 4`" };
    }
    return { message: `unexpected ${shown(site.actual, ctx.endName)}${after(site)}`, at: "actual" };
  }
  if (d.kind === "notAllInput" && d.rule === "window") {
    return { message: `unexpected ${shown(site.actual, ctx.endName)} after the window's \`]\``, at: "actual" };
  }
  return undefined;
}

const LABELS: Readonly<Record<string, string>> = {
  NumberLiteral: "a number",
  Word: "a word",
  Every: "`every`",
  In: "`in`",
  X: "`x`",
  Times: "`x`",
  Joiner: "`x`",
  LBracket: "`[`",
  RBracket: "`]`",
  Comma: "`,`",
  LCurly: "`{`",
  RCurly: "`}`",
  StringLiteral: "a string",
};

/** How a token type is named in a message. */
export function labelOf(name: string | undefined): string {
  return (name && LABELS[name]) ?? "something else";
}
