/** Assertions for expression results: issues by code and exact span, written with inline markers. */
import { expect } from "vitest";
import type { Code } from "../../../diagnostics/codes.js";
import type { ExprIssue, ExprResult } from "../../../grammar/expr/types.js";
import { marked } from "../../helpers/markers.js";

/**
 * Parses the marked text at `base` and asserts that its issues are exactly one per marker, all with `code`,
 * in order, and that no value is returned. Returns the issues for further checks.
 */
export function expectIssuesAt<T>(
  parse: (text: string, base: number) => ExprResult<T>,
  source: string,
  code: Code,
  base = 0,
): ExprIssue[] {
  const m = marked(source);
  const result = parse(m.text, base);
  expect(result.value).toBeUndefined();
  expect(
    result.issues.map((i) => [i.code, i.range.start, i.range.end]),
    JSON.stringify(result.issues.map((i) => i.message)),
  ).toEqual(m.ranges.map((r) => [code, base + r.start, base + r.end]));
  return [...result.issues];
}
