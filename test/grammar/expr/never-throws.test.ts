import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseLayout, parseWindow } from "../../../grammar/expr/parse.js";
import type { ExprResult } from "../../../grammar/expr/types.js";

/** Fragments that make random text look like an expression often enough to reach every rule. */
const fragments = fc.constantFrom("cfg", "dsp", "ulysses", "ring", "dp", "pipefusion", "sp", "x", "×", "*", "every", "in", "off",
  "[", "]", ",", "2", "0", "-1", "2.5", "1e3", "450", "930", " ", "\n", "#", "\"", "{", "dsp4", "");
const expressionLike = fc.array(fragments, { maxLength: 12 }).map((parts) => parts.join(" "));

function checkResult(result: ExprResult<unknown>, text: string, base: number): void {
  // A value and issues never come together, and every issue lies inside the text.
  expect(result.value === undefined || result.issues.length === 0).toBe(true);
  expect(result.value !== undefined || result.issues.length > 0).toBe(true);
  for (const issue of result.issues) {
    expect(issue.range.start).toBeGreaterThanOrEqual(base);
    expect(issue.range.end).toBeLessThanOrEqual(base + text.length);
    expect(issue.range.start).toBeLessThanOrEqual(issue.range.end);
    expect(issue.message).toMatch(/^[A-Z`].*[.?!]$/);
  }
}

describe("expression parsers never throw", () => {
  it("on random strings", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.nat(1000), (text, base) => {
        checkResult(parseLayout(text, base), text, base);
        checkResult(parseWindow(text, base), text, base);
      }),
      { numRuns: 300 },
    );
  });

  it("on random expression-like token soups", () => {
    fc.assert(
      fc.property(expressionLike, fc.nat(1000), (text, base) => {
        checkResult(parseLayout(text, base), text, base);
        checkResult(parseWindow(text, base), text, base);
      }),
      { numRuns: 400 },
    );
  });
});
