/**
 * The one grammar of the expression forms. Both the standalone expression parser (YAML strings) and the .odit
 * parser extend this class, so a layout or window means the same thing in either syntax:
 *
 *   layout     := layoutTerm (("x" | "×" | "*") layoutTerm)*
 *   layoutTerm := Word Number
 *   window     := "every" Number "in" "[" Number "," Number "]"
 *
 * The grammar checks only the shape; which axes exist, repeated axes and bounds are checked on the parsed
 * terms (layout.ts, window.ts), so those mistakes get their own codes and exact spans.
 */
import { CstParser, type IParserConfig, type TokenType } from "chevrotain";
import { Comma, Every, In, Joiner, LBracket, NumberLiteral, RBracket, Word } from "./tokens.js";

export abstract class ExpressionGrammar extends CstParser {
  protected constructor(vocabulary: TokenType[], config: IParserConfig) {
    super(vocabulary, config);
  }

  readonly layout = this.RULE("layout", () => {
    this.SUBRULE(this.layoutTerm);
    this.MANY(() => {
      this.CONSUME(Joiner);
      this.SUBRULE2(this.layoutTerm);
    });
  });

  readonly layoutTerm = this.RULE("layoutTerm", () => {
    this.CONSUME(Word, { LABEL: "axis" });
    this.CONSUME(NumberLiteral, { LABEL: "degree" });
  });

  readonly window = this.RULE("window", () => {
    this.CONSUME(Every);
    this.CONSUME(NumberLiteral, { LABEL: "every" });
    this.CONSUME(In);
    this.CONSUME(LBracket);
    this.CONSUME2(NumberLiteral, { LABEL: "low" });
    this.CONSUME(Comma);
    this.CONSUME3(NumberLiteral, { LABEL: "high" });
    this.CONSUME(RBracket);
  });
}
