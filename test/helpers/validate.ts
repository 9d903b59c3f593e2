/** Validate marked test input and compare diagnostics by code and exact span. */
import { expect } from "vitest";
import type { Code } from "../../diagnostics/codes.js";
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import { validateText, type ValidateOptions, type ValidateResult } from "../../compiler/validate.js";
import { marked } from "./markers.js";

export interface MarkedResult extends ValidateResult {
  readonly ranges: ReturnType<typeof marked>["ranges"];
}

/** Validates `source` (with `<|...|>` markers) as a file of the given name; files never exist unless listed. */
export function validateMarked(source: string, path = "test.yaml", options: ValidateOptions = {}): MarkedResult {
  const m = marked(source);
  const result = validateText(path, m.text, { fileExists: () => false, baseDir: "/nonexistent", ...options });
  return { ...result, ranges: m.ranges };
}

export function withCode(result: ValidateResult, code: Code): Diagnostic[] {
  return result.diagnostics.filter((d) => d.code === code);
}

/** Asserts that exactly the marked ranges carry `code` (in order), and returns those diagnostics. */
export function expectCodeAtMarkers(result: MarkedResult, code: Code): Diagnostic[] {
  const found = withCode(result, code);
  const spans = found.map((d) => [d.start.offset, d.end.offset]);
  expect(spans, `diagnostics: ${JSON.stringify(result.diagnostics.map((d) => [d.code, d.message]))}`).toEqual(
    result.ranges.map((r) => [r.start, r.end]),
  );
  return found;
}

/** Asserts there are no error diagnostics (warnings allowed), showing them if there are. */
export function expectNoErrors(result: ValidateResult): void {
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  expect(errors.map((d) => `${d.code} ${d.start.line}:${d.start.column} ${d.message}`)).toEqual([]);
}
