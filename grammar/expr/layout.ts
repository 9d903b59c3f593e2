/**
 * A parsed layout CST -> `Layout`, with the checks the grammar does not make: every axis exists (OD1202, with
 * did-you-mean and advice for other tools' names), appears once (OD1203) and has a whole degree >= 1 (OD1204).
 */
import type { CstNode, IToken } from "chevrotain";
import { adviseAxis } from "./axis-names.js";
import { tokenRange } from "./syntax-errors.js";
import { AXES, type Axis, type ExprIssue, type ExprResult, type Layout, type LayoutTerm } from "./types.js";

function isAxis(name: string): name is Axis {
  return (AXES as readonly string[]).includes(name);
}

function token(node: CstNode, label: string): IToken {
  return node.children[label]![0] as IToken;
}

export function layoutFromCst(cst: CstNode, base: number): ExprResult<Layout> {
  const issues: ExprIssue[] = [];
  const terms: LayoutTerm[] = [];
  const seen = new Map<string, LayoutTerm>();
  for (const termNode of (cst.children["layoutTerm"] ?? []) as CstNode[]) {
    const axisToken = token(termNode, "axis");
    const degreeToken = token(termNode, "degree");
    const axisRange = tokenRange(axisToken, base);
    const degreeRange = tokenRange(degreeToken, base);
    const name = axisToken.image;
    const degree = Number(degreeToken.image);
    if (!isAxis(name)) {
      const advice = adviseAxis(name);
      const mean = advice.suggestions.length === 1 ? ` Did you mean \`${advice.suggestions[0]}\`?` : "";
      issues.push({
        code: "OD1202",
        message: `Unknown parallel axis \`${name}\`.${mean}`,
        range: axisRange,
        hint: advice.hint,
        ...(advice.suggestions.length > 0 ? { suggestions: advice.suggestions } : {}),
      });
    }
    if (!Number.isSafeInteger(degree) || degree < 1) {
      issues.push({
        code: "OD1204",
        message: `The degree of \`${name}\` must be a whole number of at least 1, not \`${degreeToken.image}\`.`,
        range: degreeRange,
        hint: `write \`${name} ${Number.isFinite(degree) && degree >= 1 ? Math.round(degree) : 1}\`, or leave the axis out`,
      });
    }
    if (!isAxis(name)) continue;
    const term: LayoutTerm = { axis: name, degree, range: { start: axisRange.start, end: degreeRange.end }, axisRange, degreeRange };
    const first = seen.get(name);
    if (first) {
      issues.push({
        code: "OD1203",
        message: `The axis \`${name}\` appears twice in the layout (first as \`${name} ${first.degree}\`); each axis appears once.`,
        range: axisRange,
        hint: `remove one of the \`${name}\` terms and give the other the whole degree`,
      });
      continue;
    }
    seen.set(name, term);
    terms.push(term);
  }
  if (issues.length > 0 || terms.length === 0) return { issues };
  const range = { start: terms[0]!.range.start, end: terms[terms.length - 1]!.range.end };
  return { value: { terms, range }, issues };
}
