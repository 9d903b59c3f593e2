/**
 * A parsed window CST -> `PabWindow`, with the checks the grammar does not make: `every` is a whole number of
 * at least 1 and the low bound lies below the high bound (OD1212).
 */
import type { CstNode, IToken } from "chevrotain";
import { tokenEnd, tokenRange } from "./syntax-errors.js";
import type { ExprIssue, ExprResult, PabWindow } from "./types.js";

function token(node: CstNode, label: string): IToken {
  return node.children[label]![0] as IToken;
}

export function windowFromCst(cst: CstNode, base: number): ExprResult<PabWindow> {
  const issues: ExprIssue[] = [];
  const everyToken = token(cst, "every");
  const lowToken = token(cst, "low");
  const highToken = token(cst, "high");
  const every = Number(everyToken.image);
  const low = Number(lowToken.image);
  const high = Number(highToken.image);
  const everyRange = tokenRange(everyToken, base);
  const lowRange = tokenRange(lowToken, base);
  const highRange = tokenRange(highToken, base);
  if (!Number.isSafeInteger(every) || every < 1) {
    issues.push({
      code: "OD1212",
      message: `\`every\` must be a whole number of at least 1, not \`${everyToken.image}\`.`,
      range: everyRange,
      hint: "`every 2` recomputes at every second step and reuses in between",
    });
  }
  if (!(low < high)) {
    issues.push({
      code: "OD1212",
      message: `The window's low bound ${lowToken.image} must be below its high bound ${highToken.image}.`,
      range: { start: lowRange.start, end: highRange.end },
      hint: low > high ? `write \`[${highToken.image}, ${lowToken.image}]\`` : "the window is open at both ends, so it needs room between them",
    });
  }
  if (issues.length > 0) return { issues };
  const first = (cst.children["Every"]![0] as IToken).startOffset;
  const last = tokenEnd(cst.children["RBracket"]![0] as IToken);
  return {
    value: { kind: "window", every, low, high, range: { start: base + first, end: base + last }, everyRange, lowRange, highRange },
    issues,
  };
}
