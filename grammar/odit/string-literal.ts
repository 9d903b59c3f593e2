/**
 * Double-quoted strings of .odit: JSON's escapes, one line. Decoding reports what the lexer let through so that
 * lexing never stops: a string that is not closed on its line (OD1103) and an escape JSON does not know (OD1102).
 */
import type { Range } from "../source.js";

export interface DecodedString {
  readonly value: string;
  /** False when the closing quote is missing. */
  readonly terminated: boolean;
  /** Whether the text holds escapes (then the value cannot be mapped to the file character by character). */
  readonly escaped: boolean;
  /** Unknown or incomplete escapes, as offsets into the token image. */
  readonly badEscapes: readonly Range[];
}

const SIMPLE: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Decodes the image of a StringLiteral token (it starts with `"`). */
export function decodeString(image: string): DecodedString {
  let value = "";
  let escaped = false;
  const badEscapes: Range[] = [];
  let i = 1;
  while (i < image.length) {
    const c = image[i]!;
    if (c === '"') return { value, terminated: i === image.length - 1, escaped, badEscapes };
    if (c !== "\\") {
      value += c;
      i++;
      continue;
    }
    escaped = true;
    const next = image[i + 1];
    if (next !== undefined && SIMPLE[next] !== undefined) {
      value += SIMPLE[next];
      i += 2;
    } else if (next === "u" && /^[0-9a-fA-F]{4}$/.test(image.slice(i + 2, i + 6))) {
      value += String.fromCharCode(parseInt(image.slice(i + 2, i + 6), 16));
      i += 6;
    } else {
      const length = next === "u" ? 2 + (/^[0-9a-fA-F]*/.exec(image.slice(i + 2))?.[0].length ?? 0) : next === undefined ? 1 : 2;
      badEscapes.push({ start: i, end: i + length });
      value += image.slice(i, i + length);
      i += length;
    }
  }
  return { value, terminated: false, escaped, badEscapes };
}

/** A string as .odit writes it: JSON's quoting. */
export function quoteString(value: string): string {
  return JSON.stringify(value);
}
