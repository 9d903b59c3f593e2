/**
 * Tokens of the expression forms, shared by the standalone expression lexer (for YAML strings) and the
 * .odit lexer, so that a layout or window lexes the same in both syntaxes. Keywords carry `longer_alt: Word`
 * so that words which merely start with one (`xformers`, `index`, `everyone`) stay whole words.
 */
import { createToken, Lexer, type TokenType } from "chevrotain";

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /\s+/, group: Lexer.SKIPPED });

/** JSON number syntax: an optional minus, no leading zeros, an optional fraction and exponent. */
export const NumberLiteral = createToken({
  name: "NumberLiteral",
  pattern: /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/,
  label: "a number",
});

/** A bare word: starts with a letter; letters, digits, `_`, `-`, `.`, `/`, `:` follow (`t5-v1_1-xxl`, `DiT-XL/2`). */
export const Word = createToken({ name: "Word", pattern: /[A-Za-z][A-Za-z0-9_\-./:]*/, label: "a word" });

/** The source of {@link Word}'s pattern, anchored, for the printer's bare-word test. */
export const WORD_PATTERN = /^[A-Za-z][A-Za-z0-9_\-./:]*$/;

function keyword(name: string, text: string): TokenType {
  return createToken({ name, pattern: new RegExp(text), longer_alt: Word, label: `\`${text}\`` });
}

export const Every = keyword("Every", "every");
export const In = keyword("In", "in");
/** The layout joiner `x`; `×` and `*` are {@link Times}. */
/** What joins layout terms: `x`, `×` or `*`. */
export const Joiner = createToken({ name: "Joiner", pattern: Lexer.NA, label: "`x`" });

/** The layout joiner `x` (a keyword); `×` and `*` are {@link Times}. */
export const X = createToken({ name: "X", pattern: /x/, longer_alt: Word, categories: [Joiner], label: "`x`" });
export const Times = createToken({ name: "Times", pattern: /[*×]/, categories: [Joiner], label: "`x`" });

export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "`[`" });
export const RBracket = createToken({ name: "RBracket", pattern: /]/, label: "`]`" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "`,`" });

/** Keywords of the expression forms, in lexer order (before {@link Word}). */
export const EXPRESSION_KEYWORDS: readonly TokenType[] = [Every, In, X];

/** Every token the expression grammar consumes; both parsers' vocabularies include these. */
export const EXPRESSION_TOKENS: readonly TokenType[] = [
  WhiteSpace,
  NumberLiteral,
  ...EXPRESSION_KEYWORDS,
  Word,
  Times,
  Joiner,
  LBracket,
  RBracket,
  Comma,
];
