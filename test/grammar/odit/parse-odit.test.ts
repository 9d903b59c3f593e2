import { describe, expect, it } from "vitest";
import { parseLayout, parseWindow } from "../../../grammar/expr/parse.js";
import { parseOdit } from "../../../grammar/odit/parse-odit.js";
import { createSourceFile } from "../../../grammar/source.js";
import { marked } from "../../helpers/markers.js";

const EXAMPLE = `# comments start with #
version 1
name opensora-dsp
model {
  family stdit
  variant "STDiT-XL/2"
  checkpoint "ckpts/OpenSora-v1-HQ-16x512x512.safetensors"
  dtype bf16
}
conditioning { prompts ["a red panda eating bamboo"]  text_encoder t5-v1_1-xxl }
video { frames 16  height 512  width 512  fps 8 }
seed 42
scheduler { kind iddpm  steps 100  guidance 7.0 }
parallel { world 8  layout cfg 2 x dsp 4 }
acceleration {
  pab {
    spatial every 2 in [450, 930]
    temporal every 4 in [450, 930]
    cross every 6 in [450, 930]
    mlp { spatial { steps [16, 18, 20]  blocks [0, 1, 2, 3, 4]  reuse 2 } }
  }
}
output { dir "outputs/opensora-dsp"  formats [mp4, latents] }
`;

function parse(text: string) {
  const file = createSourceFile("test.odit", text);
  return { file, ...parseOdit(file) };
}

describe("parseOdit: values", () => {
  it("reads the language example into the Spec's JSON shape", () => {
    const { tree, diagnostics } = parse(EXAMPLE);
    expect(diagnostics).toEqual([]);
    expect(tree?.syntax).toBe("odit");
    expect(tree?.value).toEqual({
      version: 1,
      name: "opensora-dsp",
      model: { family: "stdit", variant: "STDiT-XL/2", checkpoint: "ckpts/OpenSora-v1-HQ-16x512x512.safetensors", dtype: "bf16" },
      conditioning: { prompts: ["a red panda eating bamboo"], text_encoder: "t5-v1_1-xxl" },
      video: { frames: 16, height: 512, width: 512, fps: 8 },
      seed: 42,
      scheduler: { kind: "iddpm", steps: 100, guidance: 7 },
      parallel: { world: 8, layout: "cfg 2 x dsp 4" },
      acceleration: {
        pab: {
          spatial: "every 2 in [450, 930]",
          temporal: "every 4 in [450, 930]",
          cross: "every 6 in [450, 930]",
          mlp: { spatial: { steps: [16, 18, 20], blocks: [0, 1, 2, 3, 4], reuse: 2 } },
        },
      },
      output: { dir: "outputs/opensora-dsp", formats: ["mp4", "latents"] },
    });
  });

  it("reads numbers in JSON syntax, literals and quoted strings with escapes", () => {
    const { tree } = parse(`a -3  b 2.5e-3  c 1E6  d 0  e true  f false  g null  h "tab\\there \\"q\\" \\u00e9 \\/"`);
    expect(tree?.value).toEqual({ a: -3, b: 0.0025, c: 1e6, d: 0, e: true, f: false, g: null, h: 'tab\there "q" é /' });
  });

  it("reads lists with trailing commas, newlines, nesting and no items", () => {
    const { tree } = parse("a [\n  1,\n  2,\n]\nb [[1, 2], [], [x-ray, \"y\"]]\nc []\nd {}");
    expect(tree?.value).toEqual({ a: [1, 2], b: [[1, 2], [], ["x-ray", "y"]], c: [], d: {} });
  });

  it("accepts `;` and `,` between entries", () => {
    expect(parse("a 1; b 2, c { d 3; e 4 }").tree?.value).toEqual({ a: 1, b: 2, c: { d: 3, e: 4 } });
  });

  it("reads quoted keys, including ones that are not words", () => {
    const { tree } = parse(`"my key" 1  "x" 2  "__proto__" 3`);
    expect(tree?.value).toEqual(JSON.parse(`{"my key": 1, "x": 2, "__proto__": 3}`));
    expect(Object.getPrototypeOf(tree?.value)).toBe(Object.prototype);
  });

  it("reads a file that is a single list, block, number or string", () => {
    expect(parse("[1, 2]").tree?.value).toEqual([1, 2]);
    expect(parse("{ a 1 }").tree?.value).toEqual({ a: 1 });
    expect(parse("{}").tree?.value).toEqual({});
    expect(parse("-4.5").tree?.value).toBe(-4.5);
    expect(parse('"just text"').tree?.value).toBe("just text");
    expect(parse("null").tree?.value).toBeNull();
  });
});

describe("parseOdit: keywords and bare words", () => {
  it("keeps keys and words that merely start with a keyword whole", () => {
    const { tree, diagnostics } = parse(
      "index 1  xformers true  everything 2  nullable null  trueish false  falsey 0  in_channels 4  x2 3  offset inx\n" +
        "w every_step  v x-ray  u nullish  t intrue  s every-2",
    );
    expect(diagnostics).toEqual([]);
    expect(tree?.value).toEqual({
      index: 1,
      xformers: true,
      everything: 2,
      nullable: null,
      trueish: false,
      falsey: 0,
      in_channels: 4,
      x2: 3,
      offset: "inx",
      w: "every_step",
      v: "x-ray",
      u: "nullish",
      t: "intrue",
      s: "every-2",
    });
  });

  it("reads bare words with digits, `-`, `.`, `/` and `:`", () => {
    const { tree } = parse("a t5-v1_1-xxl  b DiT-XL/2  c opensora-vae-v1.2  d hf:org/model  e off");
    expect(tree?.value).toEqual({ a: "t5-v1_1-xxl", b: "DiT-XL/2", c: "opensora-vae-v1.2", d: "hf:org/model", e: "off" });
  });

  it("reads a word followed by a number as a layout, and a word followed by a key as a word", () => {
    expect(parse("a b 3").tree?.value).toEqual({ a: "b 3" });
    expect(parse("a b\nc 3").tree?.value).toEqual({ a: "b", c: 3 });
  });

  it("reads layouts written over several lines and with `×` or `*`, as their exact text", () => {
    const text = "layout cfg 2 ×\n  dsp 4 * ring 2\nnext 1";
    expect(parse(text).tree?.value).toEqual({ layout: "cfg 2 ×\n  dsp 4 * ring 2", next: 1 });
  });
});

describe("parseOdit: spans", () => {
  it("records key and value ranges of entries, blocks and list items", () => {
    const m = marked("<|seed|> <|42|>\n<|video|> <|{ frames 16 }|>\n<|formats|> [<|mp4|>, <|\"gif\"|>]");
    const { tree } = parse(m.text);
    const r = m.ranges;
    expect(tree?.nodes.get("/seed")).toMatchObject({ key: r[0], value: r[1] });
    expect(tree?.nodes.get("/video")).toMatchObject({ key: r[2], value: r[3] });
    expect(tree?.nodes.get("/formats/0")?.value).toEqual(r[5]);
    expect(tree?.nodes.get("/formats/1")?.value).toEqual(r[6]);
    expect(tree?.nodes.get("")?.value).toEqual({ start: 0, end: m.text.length });
  });

  it("gives contentStart to bare words, unescaped quoted strings and expressions, not to escaped strings", () => {
    const m = marked('a <|word|>\nb "<|quoted|>"\nc "esc\\"aped"\nd <|cfg 2 x dsp 4|>\ne <|every 2 in [450, 930]|>\nf 3');
    const { tree } = parse(m.text);
    expect(tree?.nodes.get("/a")?.contentStart).toBe(m.ranges[0]!.start);
    expect(tree?.nodes.get("/b")?.contentStart).toBe(m.ranges[1]!.start);
    expect(tree?.nodes.get("/c")?.contentStart).toBeUndefined();
    expect(tree?.nodes.get("/d")).toMatchObject({ contentStart: m.ranges[2]!.start, value: m.ranges[2] });
    expect(tree?.nodes.get("/e")).toMatchObject({ contentStart: m.ranges[3]!.start, value: m.ranges[3] });
    expect(tree?.nodes.get("/f")?.contentStart).toBeUndefined();
  });

  it("lets the checker re-parse an expression at its contentStart and land on the file's text", () => {
    const { file, tree } = parse("parallel {\n  world 8\n  layout cfg 2 x ulyses 4\n}\nacceleration { pab { spatial every 3 in [900, 100] } }");
    const layoutNode = tree!.nodes.get("/parallel/layout")!;
    const layout = parseLayout((tree!.value as { parallel: { layout: string } }).parallel.layout, layoutNode.contentStart!);
    const axis = layout.issues[0]!.range;
    expect(file.text.slice(axis.start, axis.end)).toBe("ulyses");
    const windowNode = tree!.nodes.get("/acceleration/pab/spatial")!;
    const window = parseWindow("every 3 in [900, 100]", windowNode.contentStart!);
    const bounds = window.issues[0]!.range;
    expect(file.text.slice(bounds.start, bounds.end)).toBe("900, 100");
  });
});

describe("parseOdit: comments", () => {
  it("places file, entry, end-of-line, list-item and trailing comments", () => {
    const text = [
      "# about the file",
      "",
      "# about version",
      "version 1",
      "model {",
      "  # about family",
      "  family dit # eol on family",
      "  # after the last entry of model",
      "}",
      "prompts [",
      "  # about the first prompt",
      '  "a",',
      '  "b", # eol on b',
      "]",
      "seed 3",
      "# at the end",
      "#",
    ].join("\n");
    const { tree, diagnostics } = parse(text);
    expect(diagnostics).toEqual([]);
    const comments = (p: string) => tree!.nodes.get(p)?.comments;
    expect(comments("")).toEqual(["about the file"]);
    expect(comments("/version")).toEqual(["about version"]);
    expect(comments("/model")).toBeUndefined();
    expect(comments("/model/family")).toEqual(["about family", "eol on family"]);
    expect(comments("/prompts")).toEqual(["after the last entry of model"]);
    expect(comments("/prompts/0")).toEqual(["about the first prompt"]);
    expect(comments("/prompts/1")).toEqual(["eol on b"]);
    expect(tree!.trailingComments).toEqual(["at the end", ""]);
  });

  it("gives leading comments that touch the first entry to it, not to the file", () => {
    const { tree } = parse("# one\n# two\nversion 1\n");
    expect(tree!.nodes.get("")?.comments).toBeUndefined();
    expect(tree!.nodes.get("/version")?.comments).toEqual(["one", "two"]);
  });
});
