/**
 * The standalone expression front end: lexes and parses one layout or window written as a string (in YAML,
 * or re-parsed from .odit source text), and turns lexer and parser errors into placed syntax problems.
 * It stops at the first syntax error: an expression is a few tokens long, one precise message is enough.
 */
import { Lexer, type CstNode, type IToken } from "chevrotain";
import { ExpressionGrammar } from "./grammar.js";
import {
  descriptorProvider,
  place,
  readDescriptor,
  sentence,
  siteOf,
  wordExpressionError,
  type ErrorContext,
  type SyntaxProblem,
} from "./syntax-errors.js";
import { EXPRESSION_TOKENS } from "./tokens.js";

class ExpressionParser extends ExpressionGrammar {
  constructor() {
    super([...EXPRESSION_TOKENS], {
      errorMessageProvider: descriptorProvider,
      nodeLocationTracking: "onlyOffset",
      recoveryEnabled: false,
    });
    this.performSelfAnalysis();
  }
}

const lexer = new Lexer([...EXPRESSION_TOKENS], { positionTracking: "onlyOffset", ensureOptimizations: false });
const parser = new ExpressionParser();

export interface ParsedExpression {
  /** The CST of the start rule; present only without syntax problems. */
  readonly cst?: CstNode;
  readonly tokens: readonly IToken[];
  readonly problems: readonly SyntaxProblem[];
}

function unexpectedCharacters(text: string, offset: number, length: number, base: number): SyntaxProblem {
  const chars = text.slice(offset, offset + length);
  return {
    message: sentence(`unexpected ${length === 1 ? "character" : "characters"} \`${chars}\``),
    range: { start: base + offset, end: base + offset + length },
  };
}

/** Parses `text` with one of the expression rules; `endName` names the end of the text in messages. */
export function parseExpression(text: string, base: number, rule: "layout" | "window", endName: string): ParsedExpression {
  const lexed = lexer.tokenize(text);
  const problems: SyntaxProblem[] = lexed.errors.map((e) => unexpectedCharacters(text, e.offset, e.length, base));
  parser.input = lexed.tokens;
  const cst = rule === "layout" ? parser.layout() : parser.window();
  const ctx: ErrorContext = { tokens: lexed.tokens, base, endName, claimed: new Set() };
  for (const e of parser.errors) {
    const site = siteOf(e, lexed.tokens);
    const worded = wordExpressionError(readDescriptor(e), site, ctx) ?? {
      message: `unexpected ${site.actual ? `\`${site.actual.image}\`` : endName}`,
      at: "actual" as const,
    };
    problems.push(place(worded, site, ctx));
  }
  problems.sort((a, b) => a.range.start - b.range.start);
  return problems.length === 0 ? { cst, tokens: lexed.tokens, problems } : { tokens: lexed.tokens, problems };
}
