/**
 * Progress of `opendit run` on stderr, in one of three ways: on a terminal one line redrawn in place (a bar,
 * step i/N, milliseconds per step and the time left, and the latest preview written during the run); with `--json`
 * one JSON object per event, a line each, for programs (`{event: "preview", step, files}` for each preview
 * written); otherwise nothing, so a log or CI output holds only the summary and the errors.
 */
import type { NativeProgress } from "../../runtime/native/addon.js";
import type { CliIo, TextSink } from "../io.js";
import { formatSeconds } from "./units.js";

export type ProgressMode = "line" | "json" | "none";

export interface ProgressReporter {
  readonly onProgress: (progress: NativeProgress) => void;
  /** A preview during the run was written (`output.preview_every`): its step and its files, as shown to the user. */
  readonly onPreview: (step: number, files: readonly string[]) => void;
  /** Clears the redrawn line (before anything else is written to stderr); safe to call more than once. */
  finish(): void;
}

const BAR_WIDTH = 24;
/** A redraw at most this often (steps of a tiny model take well under a millisecond). */
const REDRAW_MS = 50;
const CLEAR_LINE = "\r\x1b[2K";

/**
 * Whether stderr is a terminal: a Node stream says so itself (`isTTY`); an injected sink without that property
 * is taken to be what stdout is (CliIo's `isTTY`), as tests set it.
 */
export function stderrIsTerminal(io: CliIo): boolean {
  const flag = (io.stderr as TextSink & { isTTY?: unknown }).isTTY;
  return typeof flag === "boolean" ? flag : io.isTTY;
}

function terminalColumns(sink: TextSink): number {
  const columns = (sink as TextSink & { columns?: unknown }).columns;
  return typeof columns === "number" && columns > 20 ? columns : 80;
}

/** The step line: `name  [#######.........]  step 3/10  4.10 ms/step  ETA 28.7 ms`. */
export function stepLine(name: string, step: number, steps: number, secondsPerStep: number | undefined): string {
  const done = steps > 0 ? Math.round((BAR_WIDTH * Math.min(step, steps)) / steps) : 0;
  const bar = `[${"#".repeat(done)}${".".repeat(BAR_WIDTH - done)}]`;
  const eta = secondsPerStep !== undefined && step < steps ? `  ETA ${formatSeconds(secondsPerStep * (steps - step))}` : "";
  const speed = secondsPerStep !== undefined ? `  ${formatSeconds(secondsPerStep)}/step${eta}` : "";
  return `${name}  ${bar}  step ${step}/${steps}${speed}`;
}

const PHASE_TEXT: Readonly<Record<NativeProgress["phase"], string>> = {
  load: "loading weights",
  setup: "setting up",
  step: "sampling",
  decode: "decoding (VAE)",
  done: "done",
};

export function progressReporter(mode: ProgressMode, name: string, io: CliIo): ProgressReporter {
  const sink = io.stderr;
  if (mode === "none") return { onProgress: () => undefined, onPreview: () => undefined, finish: () => undefined };
  if (mode === "json") {
    return {
      onProgress: (p) => void sink.write(`${JSON.stringify({ event: "progress", phase: p.phase, step: p.step, steps: p.steps, seconds: p.seconds })}\n`),
      onPreview: (step, files) => void sink.write(`${JSON.stringify({ event: "preview", step, files })}\n`),
      finish: () => undefined,
    };
  }
  // The steps start when the last event before the first step arrived (setup's end), so ms/step leaves out loading.
  let stepsStartedAt: number | undefined;
  let lastPhase: NativeProgress["phase"] | undefined;
  let lastDraw = -Infinity;
  let drawn = false;
  // The step line last drawn, and the latest preview written (shown after it).
  let lastStep: string | undefined;
  let preview = "";
  const draw = (text: string): void => {
    const width = terminalColumns(sink) - 1;
    sink.write(`${CLEAR_LINE}${text.length > width ? text.slice(0, width) : text}`);
    drawn = true;
  };
  return {
    onProgress: (p) => {
      if (p.phase !== "step") stepsStartedAt = p.seconds;
      else stepsStartedAt ??= p.seconds;
      const now = performance.now();
      const phaseChanged = p.phase !== lastPhase;
      lastPhase = p.phase;
      if (p.phase === "done") return;
      if (!phaseChanged && p.step < p.steps && now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      if (p.phase !== "step") {
        draw(`${name}  ${PHASE_TEXT[p.phase]}…`);
        return;
      }
      const perStep = p.step > 0 && stepsStartedAt !== undefined ? (p.seconds - stepsStartedAt) / p.step : undefined;
      lastStep = stepLine(name, p.step, p.steps, perStep);
      draw(lastStep + preview);
    },
    onPreview: (step, files) => {
      const first = files[0];
      if (first === undefined) return;
      preview = `  preview ${step}: ${first}${files.length > 1 ? ` (+${files.length - 1})` : ""}`;
      if (lastStep !== undefined && lastPhase === "step") draw(lastStep + preview);
    },
    finish: () => {
      if (drawn) sink.write(CLEAR_LINE);
      drawn = false;
    },
  };
}
