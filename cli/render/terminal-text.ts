/**
 * Making user text safe and measurable on a terminal: control characters become visible control pictures
 * (so a stray escape byte in a pipeline file cannot recolour or rewrite the terminal), bidirectional
 * overrides become U+FFFD (so a line cannot display in another order than it is read), tabs expand to tab
 * stops. Each UTF-16 unit of a line maps to one display cell string, so spans can be underlined exactly.
 */

const TAB_STOP = 4;

/** Bidirectional embedding, override and isolate controls (the "Trojan Source" characters). */
function isBidiControl(code: number): boolean {
  return (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) || code === 0x200e || code === 0x200f || code === 0x061c;
}

/** The visible stand-in for one non-tab UTF-16 unit, or undefined when it prints as itself. */
function standIn(code: number): string | undefined {
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return "\u2421";
  if (code >= 0x80 && code <= 0x9f) return "\ufffd";
  if (isBidiControl(code)) return "\ufffd";
  return undefined;
}

/** Replaces every control character (newlines included) with a visible stand-in; tabs become a space. */
export function printable(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out += code === 9 ? " " : (standIn(code) ?? text[i]);
  }
  return out;
}

/** One display cell per UTF-16 unit of `line`: what to print for it and how many columns that takes. */
export interface Cell {
  readonly text: string;
  readonly width: number;
}

export function cellsOf(line: string): Cell[] {
  const cells: Cell[] = [];
  let column = 0;
  for (let i = 0; i < line.length; i++) {
    const code = line.charCodeAt(i);
    let cell: Cell;
    if (code === 9) {
      const width = TAB_STOP - (column % TAB_STOP);
      cell = { text: " ".repeat(width), width };
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < line.length) {
      const low = line.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        // An astral character (most are emoji or wide ideographs): two cells, carried by its first unit.
        cells.push({ text: line.slice(i, i + 2), width: 2 });
        cells.push({ text: "", width: 0 });
        column += 2;
        i++;
        continue;
      }
      cell = { text: "\ufffd", width: 1 };
    } else if (code >= 0xd800 && code <= 0xdfff) {
      cell = { text: "\ufffd", width: 1 };
    } else {
      const stand = standIn(code);
      cell = { text: stand ?? line[i]!, width: 1 };
    }
    cells.push(cell);
    column += cell.width;
  }
  return cells;
}
