/** The report of a path that could not be used (unreadable, or matching nothing): one OD9002 at its start. */
import { createDiagnostic } from "../diagnostics/diagnostic.js";
import { createSourceFile } from "../grammar/source.js";
import type { FileReport } from "./render/report.js";

export interface PathProblem {
  readonly path: string;
  readonly message: string;
}

export function unreadableReport(problem: PathProblem): FileReport {
  const source = createSourceFile(problem.path, "");
  const diagnostic = createDiagnostic(source, { code: "OD9002", message: problem.message, range: { start: 0, end: 0 } });
  return { path: problem.path, source, diagnostics: [diagnostic] };
}
