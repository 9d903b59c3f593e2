/** Hand-made file reports for renderer tests: real SourceFiles and Diagnostics built with createDiagnostic. */
import { compareDiagnostics, createDiagnostic, type DiagnosticInit } from "../../../diagnostics/diagnostic.js";
import { createSourceFile } from "../../../grammar/source.js";
import type { FileReport } from "../../../cli/render/report.js";

/** A report for `text` at `path`; each diagnostic's range may be given as the substring it covers. */
export function fileReport(
  path: string,
  text: string,
  diagnostics: readonly (Omit<DiagnosticInit, "range"> & { readonly range?: DiagnosticInit["range"]; readonly at?: string })[],
): FileReport {
  const source = createSourceFile(path, text);
  return {
    path,
    source,
    diagnostics: diagnostics.map(({ at, range, ...init }) => {
      let span = range;
      if (at !== undefined) {
        const start = text.indexOf(at);
        if (start < 0) throw new Error(`\`${at}\` does not occur in the test text`);
        span = { start, end: start + at.length };
      }
      return createDiagnostic(source, { ...init, range: span ?? { start: 0, end: 0 } });
    }).sort(compareDiagnostics),
  };
}

export const LAYOUT_TEXT = ["version: 1", "parallel:", "  world: 8", "  layout: cfg 2 x dsp 3", ""].join("\n");

/** One file with an error (with hint, suggestions and a related place) and one warning; one clean file. */
export function sampleReports(): FileReport[] {
  return [
    fileReport("pipelines/a.yaml", LAYOUT_TEXT, [
      {
        code: "OD3101",
        message: "The layout's degrees multiply to 6, but the world size is 8.",
        at: "cfg 2 x dsp 3",
        hint: "use `cfg 2 x dsp 4`",
        suggestions: ["cfg 2 x dsp 4", "dsp 8"],
        related: [{ range: { start: LAYOUT_TEXT.indexOf("world"), end: LAYOUT_TEXT.indexOf("world") + 5 }, message: "world size set here" }],
      },
      { code: "OD3313", message: "Trained at 512, asked for 1024.", at: "world: 8" },
    ]),
    fileReport("pipelines/clean.yaml", "version: 1\n", []),
  ];
}
