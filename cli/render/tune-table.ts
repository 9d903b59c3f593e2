/**
 * `opendit tune`'s output: the best layouts as a table (estimated step and end-to-end time, memory and bytes
 * sent per rank), then the layouts that fit by shape but did not lower, each with its reason; or the same as
 * JSON for scripts.
 */
import { codeInfo, type Code } from "../../diagnostics/codes.js";
import type { FailedLayout, TuneResult } from "../../compiler/tune.js";
import { alignColumns, formatBytes, formatSeconds, wrapWords } from "./units.js";

/** Lines are wrapped (at spaces) to this width. */
const WIDTH = 100;

export interface TuneView {
  readonly name: string;
  readonly gpus: number;
  /** The GPU profile estimated for. */
  readonly gpu: string;
  readonly top: number;
}

export function renderTuneText(result: TuneResult, view: TuneView): string {
  const { ranked, failed, layouts } = result;
  const shown = ranked.slice(0, view.top);
  const order = shown.length === 0 ? "" : `; ${shown.length === ranked.length ? "all" : `the best ${shown.length}`} by estimated end-to-end time`;
  const lines = [`${view.name} on ${view.gpus} x ${view.gpu}: ${layouts.length} layout${layouts.length === 1 ? " fits" : "s fit"}, ${ranked.length} lowered${order}`];
  if (shown.length > 0) {
    const rows = [
      ["#", "layout", "est. step", "est. total", "memory/rank", "comm/step"],
      ...shown.map((t, i) => [`${i + 1}`, t.layout, formatSeconds(t.stepSeconds), formatSeconds(t.totalSeconds), formatBytes(t.peakBytesPerRank), formatBytes(t.commBytesPerStep)]),
    ];
    lines.push("", ...alignColumns(rows, "  ", [0, 2, 3, 4, 5]));
  }
  if (failed.length > 0) lines.push("", `did not lower (${failed.length}):`, ...failureLines(failed));
  return `${lines.join("\n")}\n`;
}

/**
 * Failures grouped by the code of their first error (layouts of one kind fail alike): the code, the layouts,
 * and the first layout's message as the example.
 */
function failureLines(failed: readonly FailedLayout[]): string[] {
  const groups = new Map<string, FailedLayout[]>();
  for (const f of failed) {
    const key = f.code ?? "";
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const lines: string[] = [];
  for (const [code, members] of groups) {
    const title = code === "" ? "no code" : `${code} ${codeInfo(code as Code).name}`;
    const layouts = members.map((m, i) => `${m.layout}${i < members.length - 1 ? "," : ""}`);
    lines.push(...wrapWords([`  ${title}:`, ...layouts], WIDTH, 4));
    const example = `${members.length > 1 ? "e.g. " : ""}${members[0]!.layout}: ${members[0]!.reason}`;
    lines.push(...wrapWords(example, WIDTH - 4, 2).map((l) => `    ${l}`));
  }
  return lines;
}

/** The same ranking as data: the shown layouts with their plan hashes, and every failure. */
export function renderTuneJson(result: TuneResult, view: TuneView): string {
  const value = {
    name: view.name,
    gpus: view.gpus,
    gpu: view.gpu,
    layouts: result.layouts.length,
    ranked: result.ranked.slice(0, view.top).map((t) => ({
      layout: t.layout,
      stepSeconds: t.stepSeconds,
      totalSeconds: t.totalSeconds,
      peakBytesPerRank: t.peakBytesPerRank,
      commBytesPerStep: t.commBytesPerStep,
      hash: t.plan.hash,
    })),
    failed: result.failed.map((f) => ({ layout: f.layout, code: f.code ?? null, reason: f.reason })),
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}
