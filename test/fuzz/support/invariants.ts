/**
 * What must hold for any input, however broken: validation returns (never throws), every diagnostic is a
 * catalog code with its own name, a severity, a message and a span inside the text whose line and column
 * agree with its offset; every report format renders it (what the CLI does next, so it cannot crash there).
 */
import { expect } from "vitest";
import { palette } from "../../../cli/color.js";
import { REPORT_FORMATS, renderReport } from "../../../cli/render/format.js";
import type { FileReport } from "../../../cli/render/report.js";
import { validateText } from "../../../compiler/validate.js";
import { codes, codeInfo } from "../../../diagnostics/codes.js";
import { positionAt, type Position, type SourceFile } from "../../../grammar/source.js";

const SEVERITIES = new Set(["error", "warning", "info"]);
const tool = { name: "opendit", version: "0.0.0-fuzz", informationUri: "https://example.org" };

/** How many inputs the fuzz test has checked (reported at the end, so the total stays visible). */
export const checked = { inputs: 0 };

function expectPosition(file: SourceFile, position: Position, what: string): void {
  expect(position.line, what).toBeGreaterThanOrEqual(1);
  expect(position.column, what).toBeGreaterThanOrEqual(1);
  expect(position.offset, what).toBeGreaterThanOrEqual(0);
  expect(position.offset, what).toBeLessThanOrEqual(file.text.length);
  expect(positionAt(file, position.offset), `${what}: line/column agree with the offset`).toEqual(position);
}

/** Validates `text` as `path` and checks every invariant; returns the diagnostics for further checks. */
export function expectSound(path: string, text: string, syntax?: "yaml" | "odit"): FileReport {
  checked.inputs++;
  const result = validateText(path, text, { fileExists: () => false, baseDir: "/nonexistent", ...(syntax ? { syntax } : {}) });
  expect(result.file.text).toBe(text);
  for (const d of result.diagnostics) {
    const what = `${d.code} ${JSON.stringify(d.message)}`;
    expect(Object.hasOwn(codes, d.code), what).toBe(true);
    expect(d.name, what).toBe(codeInfo(d.code).name);
    expect(SEVERITIES.has(d.severity), what).toBe(true);
    expect(typeof d.message === "string" && d.message.trim().length > 0, what).toBe(true);
    expect(d.file).toBe(path);
    expectPosition(result.file, d.start, `${what} start`);
    expectPosition(result.file, d.end, `${what} end`);
    expect(d.start.offset, what).toBeLessThanOrEqual(d.end.offset);
    for (const r of d.related ?? []) {
      expectPosition(result.file, r.start, `${what} related start`);
      expectPosition(result.file, r.end, `${what} related end`);
    }
  }
  const report: FileReport = { path, source: result.file, diagnostics: result.diagnostics };
  // What the CLI does after validating: render, in every format.
  for (const format of REPORT_FORMATS) {
    expect(renderReport(format, [report], { colors: palette(true), cwd: "/", tool }).length).toBeGreaterThan(0);
  }
  return report;
}
