/**
 * Entry points of the expression forms: `parseLayout` and `parseWindow` take the text of one expression and
 * the file offset of its first character (`base`), so every range they return points into the user's file.
 * A value is returned only when the expression has no issues at all.
 */
import type { Code } from "../../diagnostics/codes.js";
import { parseExpression, type ParsedExpression } from "./expression-parser.js";
import { layoutFromCst } from "./layout.js";
import type { ExprIssue, ExprResult, Layout, PabWindow } from "./types.js";
import { windowFromCst } from "./window.js";

function syntaxIssues(code: Code, parsed: ParsedExpression, hint: string): ExprIssue[] {
  return parsed.problems.map((p) => ({ code, message: p.message, range: p.range, hint: p.hint ?? hint }));
}

function emptyIssue(code: Code, text: string, base: number, what: string, example: string): ExprIssue {
  return { code, message: `The ${what} is empty.`, range: { start: base, end: base + text.length }, hint: `write ${example}` };
}

const LAYOUT_EXAMPLE = "`axis degree` terms joined by `x`, such as `cfg 2 x dsp 4`";

export function parseLayout(text: string, base: number): ExprResult<Layout> {
  if (text.trim() === "") return { issues: [emptyIssue("OD1201", text, base, "layout", LAYOUT_EXAMPLE)] };
  const parsed = parseExpression(text, base, "layout", "the end of the layout");
  if (!parsed.cst) return { issues: syntaxIssues("OD1201", parsed, `a layout is ${LAYOUT_EXAMPLE}`) };
  return layoutFromCst(parsed.cst, base);
}

const WINDOW_EXAMPLE = "`every N in [low, high]` (such as `every 2 in [450, 930]`) or `off`";

export function parseWindow(text: string, base: number): ExprResult<PabWindow> {
  if (text.trim() === "") return { issues: [emptyIssue("OD1211", text, base, "PAB window", WINDOW_EXAMPLE)] };
  if (text.trim() === "off") {
    // `off` is not part of the window grammar: in .odit it is a plain word, whose string is this text.
    const start = base + text.indexOf("off");
    return { value: { kind: "off", range: { start, end: start + 3 } }, issues: [] };
  }
  const parsed = parseExpression(text, base, "window", "the end of the window");
  if (!parsed.cst) return { issues: syntaxIssues("OD1211", parsed, `a PAB window is ${WINDOW_EXAMPLE}`) };
  return windowFromCst(parsed.cst, base);
}
