/**
 * Text mutations for the fuzz test, as fast-check arbitraries so that every failing input is reproducible
 * from the printed seed and shrinks to a small list of edits. Positions are raw numbers taken modulo the
 * current length, so one edit list applies to any document.
 */
import fc from "fast-check";

/** Numbers at the edges: zero, negatives, beyond 2^53, overflow to infinity, underflow, odd spellings. */
export const EXTREME_NUMBERS = [
  "0", "-0", "-1", "1", "2", "3", "7", "1023", "65536", "4294967296", "9007199254740993", "99999999999999999999999999",
  "1e309", "-1e309", "1e-400", "0.5", "3.", ".5", "NaN", ".nan", ".inf", "-.inf", "0x10", "0o17", "1_000", "007", "1e3", "+5",
] as const;

/** Characters and fragments with a meaning in YAML or .odit. */
const SYNTAX_FRAGMENTS = [
  ":", ": ", "-", "- ", "[", "]", "{", "}", ",", "#", "&a", "*a", "!", "!!str ", "|", ">", "'", '"', "%", "@", "`", "?", "<<: ",
  "\t", "\n", "\r\n", "\r", " ", "  ", "\\", "\\u", "x", " x ", "every", " in ", "off", "---\n", "...\n", ";", "\u0000", "\ufeff",
] as const;

const KEYS = [
  "version", "name", "model", "family", "variant", "hyper", "checkpoint", "dtype", "conditioning", "prompts", "labels", "video",
  "image", "frames", "height", "width", "scheduler", "kind", "steps", "guidance", "parallel", "world", "layout", "pipefusion",
  "acceleration", "pab", "spatial", "temporal", "cross", "mlp", "blocks", "reuse", "vae", "output", "formats", "runtime",
  "devices", "gpu", "__proto__", "constructor", "", "ключ", "🔑",
] as const;

const WORDS = [
  "cfg 2 x dsp 4", "dsp 8", "ulysses 3", "ring 0", "pipefusion 99", "cfg 2 x cfg 2", "dp 1 x", "every 2 in [100, 800]",
  "every 0 in [900, 100]", "every 1 in [0, 1000]", "off", "stdit", "dit", "latte", "pixart", "opensora-plan", "bf16", "fp8",
  "cuda", "cpu", "h100", "rflow", "euler", "iddpm", "none", "null", "true", "~", "[]", "{}", "''", "\"\"",
] as const;

const text = fc.oneof(
  fc.constantFrom(...SYNTAX_FRAGMENTS),
  fc.constantFrom(...EXTREME_NUMBERS),
  fc.constantFrom(...WORDS),
  fc.string({ unit: "binary", maxLength: 6 }),
  fc.string({ unit: "grapheme", maxLength: 6 }),
);

export type Mutation =
  | { readonly op: "delete"; readonly at: number; readonly length: number }
  | { readonly op: "insert"; readonly at: number; readonly text: string }
  | { readonly op: "replace"; readonly at: number; readonly text: string }
  | { readonly op: "deleteLine"; readonly line: number }
  | { readonly op: "duplicateLine"; readonly line: number }
  | { readonly op: "swapLines"; readonly line: number; readonly other: number }
  | { readonly op: "indent"; readonly line: number; readonly by: string }
  | { readonly op: "dedent"; readonly line: number }
  | { readonly op: "number"; readonly which: number; readonly value: string }
  | { readonly op: "key"; readonly which: number; readonly key: string }
  | { readonly op: "word"; readonly which: number; readonly value: string }
  | { readonly op: "truncate"; readonly at: number };

const position = fc.nat();

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("delete" as const), at: position, length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant("insert" as const), at: position, text }),
  fc.record({ op: fc.constant("replace" as const), at: position, text }),
  fc.record({ op: fc.constant("deleteLine" as const), line: position }),
  fc.record({ op: fc.constant("duplicateLine" as const), line: position }),
  fc.record({ op: fc.constant("swapLines" as const), line: position, other: position }),
  fc.record({ op: fc.constant("indent" as const), line: position, by: fc.constantFrom(" ", "  ", "\t", "    ", " \t") }),
  fc.record({ op: fc.constant("dedent" as const), line: position }),
  fc.record({ op: fc.constant("number" as const), which: position, value: fc.constantFrom(...EXTREME_NUMBERS) }),
  fc.record({ op: fc.constant("key" as const), which: position, key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })) }),
  fc.record({ op: fc.constant("word" as const), which: position, value: fc.oneof(fc.constantFrom(...WORDS), text) }),
  fc.record({ op: fc.constant("truncate" as const), at: position }),
);

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 6 });

/** Replaces the `which`-th match (modulo the count) of `pattern` with `value`. */
function replaceMatch(source: string, pattern: RegExp, which: number, value: string): string {
  const matches = [...source.matchAll(pattern)];
  if (matches.length === 0) return source;
  const m = matches[which % matches.length]!;
  return source.slice(0, m.index) + value + source.slice(m.index! + m[0].length);
}

const NUMBER = /-?\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi;
/** A key: the first word on a line, before `:` in YAML or a space in .odit. */
const KEY = /^[ \t-]*([A-Za-z_][\w-]*)(?=:|\s)/gm;
const WORD = /[A-Za-z][\w./-]*/g;

export function applyMutation(source: string, m: Mutation): string {
  const at = (n: number) => (source.length === 0 ? 0 : n % (source.length + 1));
  const lines = source.split("\n");
  const line = (n: number) => n % lines.length;
  switch (m.op) {
    case "delete":
      return source.slice(0, at(m.at)) + source.slice(at(m.at) + m.length);
    case "insert":
      return source.slice(0, at(m.at)) + m.text + source.slice(at(m.at));
    case "replace":
      return source.slice(0, at(m.at)) + m.text + source.slice(at(m.at) + 1);
    case "deleteLine":
      lines.splice(line(m.line), 1);
      return lines.join("\n");
    case "duplicateLine":
      lines.splice(line(m.line), 0, lines[line(m.line)]!);
      return lines.join("\n");
    case "swapLines": {
      const a = line(m.line);
      const b = line(m.other);
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join("\n");
    }
    case "indent":
      lines[line(m.line)] = m.by + lines[line(m.line)];
      return lines.join("\n");
    case "dedent":
      lines[line(m.line)] = lines[line(m.line)]!.replace(/^[ \t]{1,2}/, "");
      return lines.join("\n");
    case "number":
      return replaceMatch(source, NUMBER, m.which, m.value);
    case "key": {
      const matches = [...source.matchAll(KEY)];
      if (matches.length === 0) return source;
      const k = matches[m.which % matches.length]!;
      const start = k.index! + k[0].length - k[1]!.length;
      return source.slice(0, start) + m.key + source.slice(start + k[1]!.length);
    }
    case "word":
      return replaceMatch(source, WORD, m.which, m.value);
    case "truncate":
      return source.slice(0, at(m.at));
  }
}

export function applyMutations(source: string, list: readonly Mutation[]): string {
  return list.reduce(applyMutation, source);
}
