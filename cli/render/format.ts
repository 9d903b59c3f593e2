/** The report formats of `opendit validate` and the one place that picks a renderer for a format. */
import type { Colors } from "../color.js";
import { renderGithub } from "./github.js";
import { renderJson } from "./json.js";
import { renderJunit } from "./junit.js";
import type { FileReport } from "./report.js";
import { renderSarif, type ToolInfo } from "./sarif.js";
import { renderStylish } from "./stylish.js";

export const REPORT_FORMATS = ["stylish", "json", "github", "sarif", "junit"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface RenderContext {
  /** Used by `stylish` only; machine formats are never coloured. */
  readonly colors: Colors;
  readonly cwd: string;
  readonly tool: ToolInfo;
}

export function renderReport(format: ReportFormat, files: readonly FileReport[], context: RenderContext): string {
  switch (format) {
    case "stylish":
      return renderStylish(files, context.colors);
    case "json":
      return renderJson(files);
    case "github":
      return renderGithub(files);
    case "sarif":
      return renderSarif(files, { tool: context.tool, cwd: context.cwd });
    case "junit":
      return renderJunit(files);
  }
}
