/**
 * The code frame under a diagnostic: the line it starts on with a gutter, and a `^~~~` underline of the
 * exact span (a span that runs past the line is underlined to the line's end). Very long lines are shown
 * as a window around the span, so a minified file cannot flood the terminal.
 */
import { lineText, type SourceFile } from "../../grammar/source.js";
import type { Position } from "../../grammar/source.js";
import type { Colors } from "../color.js";
import { cellsOf, type Cell } from "./terminal-text.js";

/** Longest line shown in full, in display columns. */
const MAX_FRAME_WIDTH = 160;
/** How much of the line before the span a window keeps. */
const WINDOW_LEAD = 40;

export interface FrameStyle {
  readonly colors: Colors;
  /** Colours the underline (red for errors, yellow for warnings). */
  readonly underline: (text: string) => string;
  /** Spaces before the gutter. */
  readonly indent: string;
}

function widthOf(cells: readonly Cell[], from: number, to: number): number {
  let width = 0;
  for (let i = from; i < to; i++) width += cells[i]!.width;
  return width;
}

/** The visible slice [first, last) of the line's cells: all of it, or a window that starts near the span. */
function visibleWindow(cells: readonly Cell[], spanStart: number): { first: number; last: number } {
  if (widthOf(cells, 0, cells.length) <= MAX_FRAME_WIDTH) return { first: 0, last: cells.length };
  let first = spanStart;
  while (first > 0 && widthOf(cells, first - 1, spanStart) <= WINDOW_LEAD) first--;
  let last = first;
  let width = 0;
  while (last < cells.length && width + cells[last]!.width <= MAX_FRAME_WIDTH) width += cells[last++]!.width;
  return { first, last };
}

/** The frame's lines (without trailing newline), or none when the file has no text to show. */
export function codeFrame(source: SourceFile, start: Position, end: Position, style: FrameStyle): string[] {
  if (source.text.length === 0) return [];
  const line = lineText(source, start.line);
  const cells = cellsOf(line);
  const spanStart = Math.min(start.column - 1, cells.length);
  const spanEnd = end.line === start.line ? Math.min(Math.max(end.column - 1, spanStart), cells.length) : cells.length;
  const { first, last } = visibleWindow(cells, spanStart);
  const cutBefore = first > 0;
  const cutAfter = last < cells.length;

  const shown = cells.slice(first, last).map((c) => c.text).join("");
  const lead = (cutBefore ? 1 : 0) + widthOf(cells, first, spanStart);
  const spanWidth = widthOf(cells, spanStart, Math.min(spanEnd, last));
  const mark = "^" + "~".repeat(Math.max(0, spanWidth - 1));

  const c = style.colors;
  const number = String(start.line);
  const gutter = c.dim(`${" ".repeat(number.length)} |`);
  return [
    `${style.indent}${c.dim(`${number} |`)} ${cutBefore ? c.dim("…") : ""}${shown}${cutAfter ? c.dim("…") : ""}`.trimEnd(),
    `${style.indent}${gutter} ${" ".repeat(lead)}${style.underline(mark)}`,
  ];
}
