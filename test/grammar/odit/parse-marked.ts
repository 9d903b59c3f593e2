/** Parse marked .odit test input and compare diagnostics by code and exact span. */
import { expect } from "vitest";
import type { Code } from "../../../diagnostics/codes.js";
import type { Diagnostic } from "../../../diagnostics/diagnostic.js";
import { parseOdit } from "../../../grammar/odit/parse-odit.js";
import { createSourceFile, type Range, type SourceFile } from "../../../grammar/source.js";
import type { SourceTree } from "../../../grammar/source-tree.js";
import { marked } from "../../helpers/markers.js";

export interface MarkedOdit {
  readonly file: SourceFile;
  readonly tree?: SourceTree;
  readonly diagnostics: Diagnostic[];
  readonly ranges: readonly Range[];
}

export function parseMarked(source: string): MarkedOdit {
  const m = marked(source);
  const file = createSourceFile("test.odit", m.text);
  return { ...parseOdit(file), file, ranges: m.ranges };
}

function spans(diagnostics: readonly Diagnostic[]): [Code, number, number][] {
  return diagnostics.map((d) => [d.code, d.start.offset, d.end.offset]);
}

/** Asserts that the diagnostics are exactly `codes[i]` at marker `i`, and that no tree came back. */
export function expectDiagnosticsAt(result: MarkedOdit, codes: readonly Code[]): Diagnostic[] {
  expect(result.tree).toBeUndefined();
  expect(spans(result.diagnostics), JSON.stringify(result.diagnostics.map((d) => d.message))).toEqual(
    result.ranges.map((r, i) => [codes[i], r.start, r.end]),
  );
  return result.diagnostics;
}
