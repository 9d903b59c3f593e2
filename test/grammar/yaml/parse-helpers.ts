/** Shared helpers for the YAML front-end tests: parse a marked text and look at diagnostics and nodes. */
import { expect } from "vitest";
import type { Code } from "../../../diagnostics/codes.js";
import type { Diagnostic } from "../../../diagnostics/diagnostic.js";
import type { ParseResult } from "../../../grammar/parse.js";
import { createSourceFile } from "../../../grammar/source.js";
import type { NodeSpan } from "../../../grammar/source-tree.js";
import { parseYaml } from "../../../grammar/yaml/parse-yaml.js";
import { marked, type Marked } from "../../helpers/markers.js";

export interface MarkedParse extends ParseResult {
  readonly text: string;
  readonly ranges: Marked["ranges"];
}

export function parseText(text: string): ParseResult {
  return parseYaml(createSourceFile("test.yaml", text));
}

/** Parses `source` with its `<|...|>` markers removed. */
export function parseMarked(source: string): MarkedParse {
  const m = marked(source);
  return { ...parseText(m.text), text: m.text, ranges: m.ranges };
}

/** Asserts that the diagnostics with `code` are exactly at the marked ranges, in order, and returns them. */
export function expectCodeAt(source: string, code: Code): Diagnostic[] {
  const parsed = parseMarked(source);
  const found = parsed.diagnostics.filter((d) => d.code === code);
  expect(
    found.map((d) => [d.start.offset, d.end.offset]),
    JSON.stringify(parsed.diagnostics.map((d) => [d.code, d.start.offset, d.end.offset, d.message])),
  ).toEqual(parsed.ranges.map((r) => [r.start, r.end]));
  return found;
}

/** The node at `pointer`, failing the test when there is none. */
export function nodeAt(parsed: ParseResult, pointer: string): NodeSpan {
  const node = parsed.tree?.nodes.get(pointer);
  expect(node, `no node at ${JSON.stringify(pointer)}`).toBeDefined();
  return node!;
}

export function codesOf(parsed: ParseResult): string[] {
  return parsed.diagnostics.map((d) => d.code);
}
