/**
 * A source file and the offset arithmetic every stage shares: spans are character offsets into the text,
 * turned into 1-based line:column only when something is shown to a person.
 */

/** A half-open range of character offsets `[start, end)` into a source text. */
export interface Range {
  readonly start: number;
  readonly end: number;
}

/** A 1-based line and column (columns count UTF-16 code units, as editors and GitHub do), with the offset. */
export interface Position {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

export interface SourceFile {
  /** The path as the user gave it (or a label such as `<stdin>`); diagnostics print it verbatim. */
  readonly path: string;
  readonly text: string;
  /** Offsets at which each line starts; `lineStarts[0]` is always 0. */
  readonly lineStarts: readonly number[];
}

export function createSourceFile(path: string, text: string): SourceFile {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 /* \n */) lineStarts.push(i + 1);
    else if (c === 13 /* \r */ && text.charCodeAt(i + 1) !== 10) lineStarts.push(i + 1);
  }
  return { path, text, lineStarts };
}

/** The 1-based position of an offset (clamped into the text). */
export function positionAt(file: SourceFile, offset: number): Position {
  const at = Math.max(0, Math.min(offset, file.text.length));
  const starts = file.lineStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: at - starts[lo]! + 1, offset: at };
}

/** The text of one 1-based line, without its line break. */
export function lineText(file: SourceFile, line: number): string {
  const start = file.lineStarts[line - 1];
  if (start === undefined) return "";
  const next = file.lineStarts[line];
  let end = next === undefined ? file.text.length : next;
  while (end > start && (file.text[end - 1] === "\n" || file.text[end - 1] === "\r")) end--;
  return file.text.slice(start, end);
}

export function range(start: number, end: number): Range {
  return { start, end: Math.max(start, end) };
}

/** The first item whose offset is after `offset`, in items sorted by offset (binary search). */
export function firstAfter<T extends { readonly offset: number }>(sorted: readonly T[], offset: number): T | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.offset > offset) hi = mid;
    else lo = mid + 1;
  }
  return sorted[lo];
}
