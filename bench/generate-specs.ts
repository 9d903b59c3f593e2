/**
 * The validate benchmark's corpus: variations of the example pipelines (both syntaxes) with other names,
 * seeds, image/video sizes, layouts written in another order and comment blocks of varying length, every second file
 * carrying one typical mistake (a syntax error, an unknown key, a misspelt value, a wrong type, a layout
 * whose degrees do not multiply to the world size, a step count of zero). Deterministic for a given count.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface BaseSpec {
  readonly name: string;
  readonly syntax: "yaml" | "odit";
  readonly text: string;
}

export async function loadBaseSpecs(pipelinesDir: string): Promise<BaseSpec[]> {
  const names = (await readdir(pipelinesDir)).filter((name) => /\.(ya?ml|odit)$/.test(name)).sort();
  return Promise.all(
    names.map(async (name) => ({
      name: name.replace(/\.(ya?ml|odit)$/, ""),
      syntax: name.endsWith(".odit") ? ("odit" as const) : ("yaml" as const),
      text: await readFile(join(pipelinesDir, name), "utf8"),
    })),
  );
}

/** `key: value` in YAML, `key value` in .odit: a pattern for the value written after `key`. */
function valueAfter(key: string, syntax: BaseSpec["syntax"]): RegExp {
  return syntax === "yaml" ? new RegExp(`(\\b${key}:\\s*)([^,}\\n]+)`) : new RegExp(`(\\b${key}\\s+)([^\\s,}\\]]+)`);
}

function setValue(text: string, key: string, value: string, syntax: BaseSpec["syntax"]): string {
  return text.replace(valueAfter(key, syntax), (_, lead: string) => `${lead}${value}`);
}

/** Writes a layout's terms in reverse order (`cfg 2 x dsp 4` -> `dsp 4 x cfg 2`): the same layout. */
function reverseLayout(text: string): string {
  return text.replace(/((?:dp|cfg|dsp|ulysses|ring|pipefusion) \d+(?: x (?:dp|cfg|dsp|ulysses|ring|pipefusion) \d+)+)/, (layout) =>
    layout.split(" x ").reverse().join(" x "),
  );
}

/** Comment lines (`#` starts a comment in both syntaxes), to vary the files' sizes. */
function commentBlock(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `# note ${i}: generated for the validate benchmark\n`).join("");
}

const MISTAKES = ["syntax", "unknown-key", "misspelt-family", "wrong-type", "layout-product", "zero-steps"] as const;

function withMistake(text: string, mistake: (typeof MISTAKES)[number], syntax: BaseSpec["syntax"]): string {
  const yaml = syntax === "yaml";
  switch (mistake) {
    case "syntax":
      return `${text}\n${yaml ? "extra: [unclosed, list" : "extra { unclosed"}\n`;
    case "unknown-key":
      return `${text}\n${yaml ? "colour: red" : "colour red"}\n`;
    case "misspelt-family":
      return text.replace(valueAfter("family", syntax), (_, lead: string, value: string) => `${lead}${value.trim().slice(0, -1)}`);
    case "wrong-type":
      return setValue(text, "steps", '"ten"', syntax);
    case "layout-product":
      if (valueAfter("world", syntax).test(text)) return setValue(text, "world", "6", syntax);
      return `${text}\n${yaml ? 'parallel: { world: 6, layout: "dp 2" }' : "parallel { world 6  layout dp 2 }"}\n`;
    case "zero-steps":
      return setValue(text, "steps", "0", syntax);
  }
}

/** The i-th generated file: its name and text. */
export function variation(bases: readonly BaseSpec[], i: number): { name: string; text: string } {
  const base = bases[i % bases.length]!;
  let text = base.text;
  text = setValue(text, "name", `${base.name}-${i}`, base.syntax);
  text = setValue(text, "seed", String(i), base.syntax);
  if (i % 5 === 3) {
    const side = i % 2 === 0 ? "256" : "1024";
    text = setValue(setValue(text, "height", side, base.syntax), "width", side, base.syntax);
  }
  if (i % 3 === 1) text = reverseLayout(text);
  if (i % 4 === 2) text = commentBlock(5 + (i % 40)) + text;
  if (i % 2 === 1) text = withMistake(text, MISTAKES[(i >> 1) % MISTAKES.length]!, base.syntax);
  const extension = base.syntax === "odit" ? "odit" : "yaml";
  // Spread over a few subdirectories, as a repository's pipelines would be.
  return { name: join(`group-${i % 10}`, `${base.name}-${i}.${extension}`), text };
}

export async function writeCorpus(dir: string, bases: readonly BaseSpec[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const file = variation(bases, i);
    await mkdir(join(dir, file.name, ".."), { recursive: true });
    await writeFile(join(dir, file.name), file.text);
  }
}
