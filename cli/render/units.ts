/** Bytes, seconds, counts, columns and wrapped lines as people read them in `opendit plan` and `opendit tune`. */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** Binary units with three significant figures: `512 B`, `73.5 MiB`, `1.24 GiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${BYTE_UNITS[unit]}`;
}

/** `850 µs`, `12.3 ms`, `4.52 s`, `3 min 12 s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 1) {
    const ms = seconds * 1e3;
    return `${ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
  }
  if (seconds < 120) return `${seconds >= 10 ? seconds.toFixed(1) : seconds.toFixed(2)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** A whole number with thousands separators: `16,384`. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** Pads the columns of rows of cells to a common width (the last column is not padded). */
export function alignColumns(rows: readonly (readonly string[])[], gap = "  ", rightAligned: readonly number[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        if (rightAligned.includes(i)) return cell.padStart(widths[i]!);
        return i === row.length - 1 ? cell : cell.padEnd(widths[i]!);
      })
      .join(gap)
      .trimEnd(),
  );
}

/**
 * Words on lines of at most `width` columns, continuation lines indented by `indent`; `text` is split at
 * spaces, a list is taken as the words themselves (so `linear 228,` stays on one line).
 */
export function wrapWords(text: string | readonly string[], width: number, indent: number): string[] {
  const lines: string[] = [];
  let line = "";
  // A word longer than a line (a long run of one letter) is cut into pieces that fit.
  const words = (typeof text === "string" ? text.split(" ") : text).flatMap((w) => (w.length <= width - indent ? [w] : (w.match(new RegExp(`.{1,${width - indent}}`, "g")) ?? [])));
  for (const word of words) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = " ".repeat(indent) + word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}
