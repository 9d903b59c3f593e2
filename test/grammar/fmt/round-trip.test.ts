/**
 * `fmt` conversions: YAML -> .odit -> YAML and .odit -> YAML -> .odit keep every value and every comment
 * (the YAML editor modeline aside, which .odit drops), and converting back prints exactly what formatting
 * the original prints. Runs over the fixtures below and every pipeline in pipelines/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasErrors } from "../../../diagnostics/diagnostic.js";
import { parseOdit } from "../../../grammar/odit/parse-odit.js";
import { printOdit } from "../../../grammar/odit/print-odit.js";
import { createSourceFile } from "../../../grammar/source.js";
import type { SourceTree } from "../../../grammar/source-tree.js";
import { parseYaml } from "../../../grammar/yaml/parse-yaml.js";
import { printYaml } from "../../../grammar/yaml/print-yaml.js";

const YAML_PIPELINE = `# yaml-language-server: $schema=../schema/pipeline-v1.schema.json
# Open-Sora with DSP and PAB.

# the format version
version: 1
name: opensora-dsp-pab
description: "CFG parallel x DSP: 8 GPUs # not a comment"
model:
  family: stdit
  variant: STDiT-XL/2   # the XL size
  checkpoint: ckpts/OpenSora-v1-HQ-16x512x512.safetensors
  dtype: bf16
conditioning:
  prompts:
    # the first prompt
    - a red panda eating bamboo
    - "yes"
    - 'single: quoted'
  text_encoder: t5-v1_1-xxl
video: {frames: 16, height: 512, width: 512, fps: 8}
scheduler:
  kind: iddpm
  steps: 100
  guidance: 7.5
  eta: 0
parallel:
  world: 8
  layout: cfg 2 x dsp 4
  pad: false
acceleration:
  pab:
    spatial: every 2 in [450, 930]
    temporal: "every 4 in [450, 930]"
    cross: off
    mlp:
      spatial:
        steps: [16, 18, 20]
        blocks: [0, 1, 2, 3, 4]
        reuse: 2
output:
  dir: outputs/opensora dsp
  formats: [mp4, latents]
# trailing words
`;

const YAML_ODD_VALUES = `strings:
  empty: ""
  keyword: every
  looks_like_number: "1.5"
  negative: "-3"
  null_word: "null"
  spaced: "two words"
  escapes: "tab\\there \\"q\\""
  unicode: "café ✓"
  hash: "#hash"
  colon: "a: b"
numbers: [-1, 0.25, 1.0e+21, 3]
flags: [true, false, null]
nested:
  - name: a
    values: [1, [2, 3]]
  - {}
  - []
"key with space": 1
x: 2
empty_map: {}
`;

const ODIT_PIPELINE = `# header

version 1
name quick   # eol
model { family dit  variant DiT-XL/2  checkpoint random }
parallel {
  world 4
  # layouts use x
  layout cfg 2 × ulysses 2
}
acceleration { pab { spatial every 2 in [100, 800]; cross off } }
list [
  # first
  "a b",
  c,
]
# done
`;

const ODIT_ODD_KEYS = `"my key" 1  "in" 2  "" 3
nested { deeper { deepest [1, { a -1.5e-7 }, [], {}] } }
quoted { s "\\u00e9\\t\\\\" t "true" n "42" }
`;

const MODELINE = /^\s*yaml-language-server\s*:/;

interface Document {
  readonly name: string;
  readonly syntax: "yaml" | "odit";
  readonly text: string;
}

function parse(doc: { name: string; syntax: "yaml" | "odit"; text: string }): SourceTree {
  const file = createSourceFile(doc.name, doc.text);
  const result = doc.syntax === "odit" ? parseOdit(file) : parseYaml(file);
  const errors = result.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.start.line}:${d.start.column} ${d.message}`);
  expect(errors, `${doc.name}:\n${doc.text}`).toEqual([]);
  expect(hasErrors(result.diagnostics)).toBe(false);
  return result.tree!;
}

/** Every comment of a tree by where it belongs (the modeline left out: only YAML has it). */
function commentsOf(tree: SourceTree): Record<string, readonly string[]> {
  const found: Record<string, readonly string[]> = {};
  for (const [pointer, node] of tree.nodes) {
    const comments = (node.comments ?? []).filter((c) => pointer !== "" || !MODELINE.test(c));
    if (comments.length > 0) found[pointer] = comments;
  }
  if (tree.trailingComments && tree.trailingComments.length > 0) found["(end)"] = tree.trailingComments;
  return found;
}

function print(tree: SourceTree, syntax: "yaml" | "odit"): string {
  return syntax === "odit" ? printOdit(tree) : printYaml(tree);
}

/** Converts to the other syntax and back, checking values, comments and printed text at each step. */
function roundTrip(doc: Document): void {
  const other = doc.syntax === "yaml" ? "odit" : "yaml";
  const original = parse(doc);
  const converted = parse({ name: `${doc.name}.${other}`, syntax: other, text: print(original, other) });
  expect(converted.value).toEqual(original.value);
  expect(commentsOf(converted)).toEqual(commentsOf(original));
  const back = parse({ name: `${doc.name}.back`, syntax: doc.syntax, text: print(converted, doc.syntax) });
  expect(back.value).toEqual(original.value);
  expect(commentsOf(back)).toEqual(commentsOf(original));
  // Converting back prints what formatting the original prints (a dropped modeline aside).
  const withoutModeline: SourceTree = {
    ...original,
    nodes: new Map([...original.nodes].map(([p, n]) => [p, p === "" ? { ...n, comments: (n.comments ?? []).filter((c) => !MODELINE.test(c)) } : n])),
  };
  expect(print(back, doc.syntax)).toBe(print(withoutModeline, doc.syntax));
}

const fixtures: Document[] = [
  { name: "pipeline.yaml", syntax: "yaml", text: YAML_PIPELINE },
  { name: "odd-values.yaml", syntax: "yaml", text: YAML_ODD_VALUES },
  { name: "pipeline.odit", syntax: "odit", text: ODIT_PIPELINE },
  { name: "odd-keys.odit", syntax: "odit", text: ODIT_ODD_KEYS },
];

const PIPELINES = join(import.meta.dirname, "../../../pipelines");

function pipelineDocuments(): Document[] {
  let names: string[];
  try {
    names = readdirSync(PIPELINES);
  } catch {
    return [];
  }
  return names
    .filter((n) => /\.(ya?ml|odit)$/.test(n))
    .sort()
    .map((n) => ({ name: `pipelines/${n}`, syntax: n.endsWith(".odit") ? ("odit" as const) : ("yaml" as const), text: readFileSync(join(PIPELINES, n), "utf8") }));
}

describe("fmt round trips between YAML and .odit", () => {
  const documents = [...fixtures, ...pipelineDocuments()];

  it("covers the fixtures and every pipeline file", () => {
    expect(documents.length).toBeGreaterThanOrEqual(fixtures.length);
    expect(documents.filter((d) => d.syntax === "yaml").length).toBeGreaterThan(0);
    expect(documents.filter((d) => d.syntax === "odit").length).toBeGreaterThan(0);
  });

  it.each(documents.map((d) => [d.name, d] as const))("%s", (_name, doc) => {
    roundTrip(doc);
  });

  it("drops the YAML modeline when converting to .odit, and only it", () => {
    const tree = parse({ name: "m.yaml", syntax: "yaml", text: YAML_PIPELINE });
    const odit = printOdit(tree);
    expect(odit).not.toContain("yaml-language-server");
    expect(odit.startsWith("# Open-Sora with DSP and PAB.\n\n# the format version\nversion 1\n")).toBe(true);
  });

  it("writes expressions raw in .odit and as plain strings in YAML", () => {
    const odit = printOdit(parse({ name: "p.yaml", syntax: "yaml", text: YAML_PIPELINE }));
    expect(odit).toContain("  layout cfg 2 x dsp 4\n");
    expect(odit).toContain("    temporal every 4 in [450, 930]\n");
    expect(odit).toContain("    cross off\n");
    const yaml = printYaml(parse({ name: "p.odit", syntax: "odit", text: ODIT_PIPELINE }));
    expect(parseYaml(createSourceFile("y.yaml", yaml)).tree?.value).toMatchObject({ parallel: { layout: "cfg 2 × ulysses 2" } });
  });
});
