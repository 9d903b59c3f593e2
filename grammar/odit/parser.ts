/**
 * The .odit grammar: a document is entries (`key value`), and values mirror JSON, plus bare words and the two
 * expression forms, whose rules come from the shared ExpressionGrammar. There is no per-key grammar: which keys
 * exist is the schema's business, so the parser stays small and its errors are about syntax only.
 *
 *   document := value            (only a list, block, number, literal, or a lone string: a non-mapping file)
 *             | entries ("}" entries)*
 *   entries  := (entry (","|";")? | stray)*
 *   entry    := (Word | String) value      (a keyword in the key's place is parsed, then reported)
 *   value    := window | layout | Word | String | Number | true | false | null | list | block
 *   list     := "[" (value ("," value)* ","?)? "]"   (parsed as "[" (value | ",")* "]", commas checked after)
 *   block    := "{" entries "}"
 *   stray    := Number | "]" | "," | ";" | "×" | "*" | list | block
 *
 * `stray` is an error production: something that cannot start an entry is consumed and reported ("expected a
 * key, found `4`") instead of ending the entries, so parsing goes on and later mistakes are found too; a stray
 * list or block is parsed whole, so its contents do not cause errors of their own.
 * `recoveryEnabled` lets chevrotain re-sync after an error, so one run reports every syntax error it can.
 */
import { EOF, tokenMatcher, type IToken, type TokenType } from "chevrotain";
import { ExpressionGrammar } from "../expr/grammar.js";
import { descriptorProvider } from "../expr/syntax-errors.js";
import { Comma, Every, In, LBracket, NumberLiteral, RBracket, Times, Word, X } from "../expr/tokens.js";
import { False, LCurly, Null, ODIT_TOKENS, RCurly, Semicolon, StringLiteral, True } from "./tokens.js";

const STRAY_TOKENS: readonly TokenType[] = [NumberLiteral, RBracket, Comma, Semicolon, Times];

/** Keywords are not keys, but are parsed as keys so that the mistake is reported once, with advice. */
const KEYWORD_TOKENS: readonly TokenType[] = [Every, In, X, True, False, Null];

const ROOT_VALUE_STARTS: readonly TokenType[] = [LBracket, LCurly, NumberLiteral, True, False, Null];

class OditParser extends ExpressionGrammar {
  constructor() {
    super([...ODIT_TOKENS], { recoveryEnabled: true, errorMessageProvider: descriptorProvider, maxLookahead: 3 });
    this.performSelfAnalysis();
  }

  /**
   * Recovery prefers deleting one extra token (`[1 2]` -> drop `2`) over inserting the expected one when the
   * token after it is what was expected; inserting would leave the extra token to cause errors of its own.
   */
  protected override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    return !tokenMatcher(this.LA(2), tokType);
  }

  /** A closing bracket is never deleted by recovery: the blocks and lists around it would come apart. */
  protected override canTokenTypeBeDeletedInRecovery(): boolean {
    const next = this.LA(1);
    return !tokenMatcher(next, RCurly) && !tokenMatcher(next, RBracket);
  }

  /** Whether the file is one value rather than entries (never the case for a pipeline, but any JSON prints). */
  private rootIsValue(): boolean {
    const first = this.LA(1).tokenType;
    if (ROOT_VALUE_STARTS.includes(first)) return true;
    return first === StringLiteral && this.LA(2).tokenType === EOF;
  }

  readonly document = this.RULE("document", () => {
    this.OR({
      IGNORE_AMBIGUITIES: true,
      DEF: [
        { GATE: () => this.rootIsValue(), ALT: () => this.SUBRULE(this.value) },
        {
          ALT: () => {
            this.SUBRULE(this.entries);
            this.MANY(() => {
              this.CONSUME(RCurly, { LABEL: "stray" });
              this.SUBRULE2(this.entries);
            });
          },
        },
      ],
    });
  });

  readonly entries = this.RULE("entries", () => {
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            this.SUBRULE(this.entry);
            this.OPTION(() => this.OR2([{ ALT: () => this.CONSUME(Comma) }, { ALT: () => this.CONSUME(Semicolon) }]));
          },
        },
        { ALT: () => this.SUBRULE(this.stray) },
      ]);
    });
  });

  readonly stray = this.RULE("stray", () => {
    this.OR([
      ...STRAY_TOKENS.map((t) => ({ ALT: () => this.CONSUME(t, { LABEL: "token" }) })),
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.block) },
    ]);
  });

  readonly entry = this.RULE("entry", () => {
    this.OR([
      { ALT: () => this.CONSUME(Word, { LABEL: "key" }) },
      { ALT: () => this.CONSUME(StringLiteral, { LABEL: "key" }) },
      ...KEYWORD_TOKENS.map((t) => ({ ALT: () => this.CONSUME(t, { LABEL: "keywordKey" }) })),
    ]);
    this.SUBRULE(this.value);
  });

  readonly value = this.RULE("value", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.window) },
      { ALT: () => this.SUBRULE(this.layout) },
      { ALT: () => this.CONSUME(Word) },
      { ALT: () => this.CONSUME(StringLiteral) },
      { ALT: () => this.CONSUME(NumberLiteral) },
      { ALT: () => this.CONSUME(True) },
      { ALT: () => this.CONSUME(False) },
      { ALT: () => this.CONSUME(Null) },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.block) },
    ]);
  });

  readonly list = this.RULE("list", () => {
    this.CONSUME(LBracket);
    // Items and commas in any order: a missing or doubled comma is reported from the CST (syntax-errors.ts),
    // which keeps recovery from skipping the rest of the list.
    this.MANY(() => this.OR([{ ALT: () => this.SUBRULE(this.value) }, { ALT: () => this.CONSUME(Comma) }]));
    this.CONSUME(RBracket);
  });

  readonly block = this.RULE("block", () => {
    this.CONSUME(LCurly);
    this.SUBRULE(this.entries);
    this.CONSUME(RCurly);
  });
}

const parser = new OditParser();

/** Parses lexed .odit tokens; the parser instance is reused (assigning `input` resets it). */
export function parseOditTokens(tokens: IToken[]) {
  parser.input = tokens;
  const cst = parser.document();
  return { cst, errors: parser.errors };
}
