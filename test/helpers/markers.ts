/**
 * Inline span markers for tests (Langium's idea): write `<|` and `|>` around the text a diagnostic must
 * underline; `marked()` strips them and returns the clean text and each marked range in order.
 */
import type { Range } from "../../grammar/source.js";

export interface Marked {
  readonly text: string;
  readonly ranges: readonly Range[];
}

export function marked(source: string): Marked {
  let text = "";
  const ranges: Range[] = [];
  const open: number[] = [];
  let i = 0;
  while (i < source.length) {
    if (source.startsWith("<|", i)) {
      open.push(text.length);
      i += 2;
    } else if (source.startsWith("|>", i) && open.length > 0) {
      ranges.push({ start: open.pop()!, end: text.length });
      i += 2;
    } else {
      text += source[i];
      i++;
    }
  }
  if (open.length > 0) throw new Error("unclosed <| marker in test input");
  ranges.sort((a, b) => a.start - b.start);
  return { text, ranges };
}
