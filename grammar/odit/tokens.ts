/**
 * The .odit lexer's tokens: the expression tokens (grammar/expr/tokens.ts) plus strings, comments, braces,
 * separators and the literal keywords. Keywords carry `longer_alt: Word`, so `nullable` or `trueish` stay words.
 */
import { createToken, Lexer, type TokenType } from "chevrotain";
import {
  Comma,
  Every,
  In,
  Joiner,
  LBracket,
  NumberLiteral,
  RBracket,
  Times,
  WhiteSpace,
  Word,
  X,
} from "../expr/tokens.js";

export const Comment = createToken({ name: "Comment", pattern: /#[^\n\r]*/, group: "comments" });

/**
 * A double-quoted string on one line. The pattern also takes an unterminated string and unknown escapes, so the
 * lexer keeps going; string-literal.ts reports them (OD1103, OD1102) with exact spans.
 */
export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"(?:[^"\\\n\r]|\\[^\n\r]?)*"?/, label: "a string" });

export const True = createToken({ name: "True", pattern: /true/, longer_alt: Word, label: "`true`" });
export const False = createToken({ name: "False", pattern: /false/, longer_alt: Word, label: "`false`" });
export const Null = createToken({ name: "Null", pattern: /null/, longer_alt: Word, label: "`null`" });

export const LCurly = createToken({ name: "LCurly", pattern: /{/, label: "`{`" });
export const RCurly = createToken({ name: "RCurly", pattern: /}/, label: "`}`" });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/, label: "`;`" });

/** In lexer order: keywords before `Word`. */
export const ODIT_TOKENS: readonly TokenType[] = [
  WhiteSpace,
  Comment,
  StringLiteral,
  NumberLiteral,
  Every,
  In,
  X,
  True,
  False,
  Null,
  Word,
  Times,
  Joiner,
  LBracket,
  RBracket,
  LCurly,
  RCurly,
  Comma,
  Semicolon,
];

/** Words the lexer reads as keywords: a string equal to one of these is quoted when printed. */
export const KEYWORDS: ReadonlySet<string> = new Set(["every", "in", "x", "true", "false", "null"]);

export const oditLexer = new Lexer([...ODIT_TOKENS], { positionTracking: "onlyOffset", ensureOptimizations: false });
