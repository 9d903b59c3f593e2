import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseOdit } from "../../../grammar/odit/parse-odit.js";
import { printOdit } from "../../../grammar/odit/print-odit.js";
import { createSourceFile } from "../../../grammar/source.js";
import type { JsonValue, NodeSpan, SourceTree } from "../../../grammar/source-tree.js";

/** A tree of a bare value, as another front end or a program would hand it over, with optional comments. */
function treeOf(value: JsonValue | undefined, comments: Record<string, string[]> = {}, trailing: string[] = []): SourceTree {
  const nodes = new Map<string, NodeSpan>();
  for (const [pointer, list] of Object.entries(comments)) nodes.set(pointer, { value: { start: 0, end: 0 }, comments: list });
  return { file: createSourceFile("made.yaml", ""), syntax: "yaml", value, nodes, ...(trailing.length > 0 ? { trailingComments: trailing } : {}) };
}

function reparse(text: string): SourceTree {
  const result = parseOdit(createSourceFile("printed.odit", text));
  expect(result.diagnostics.map((d) => `${d.code} ${d.start.line}:${d.start.column} ${d.message}`), text).toEqual([]);
  return result.tree!;
}

describe("printOdit: layout", () => {
  it("prints canonical .odit: indented blocks, short lists inline, comments above their entries", () => {
    const source = [
      "# pipeline of the docs",
      "",
      "version 1   # always 1",
      'model { family stdit  variant "STDiT-XL/2"  dtype "bf16" }',
      "conditioning { prompts [\"a red panda\", \"a cat\"] }",
      "parallel { world 8; layout cfg 2 x dsp 4 }",
      "acceleration { pab {",
      "  # the spatial window",
      "  spatial every 2 in [450, 930]",
      "  mlp { spatial { steps [16, 18, 20], blocks [0, 1, 2, 3, 4], reuse 2 } } } }",
      "output { dir \"outputs/a b\"  formats [mp4, latents] }",
      "# the end",
    ].join("\n");
    const printed = printOdit(reparse(source));
    expect(printed).toBe(
      [
        "# pipeline of the docs",
        "",
        "# always 1",
        "version 1",
        "model {",
        "  family stdit",
        "  variant STDiT-XL/2",
        "  dtype bf16",
        "}",
        "conditioning {",
        '  prompts ["a red panda", "a cat"]',
        "}",
        "parallel {",
        "  world 8",
        "  layout cfg 2 x dsp 4",
        "}",
        "acceleration {",
        "  pab {",
        "    # the spatial window",
        "    spatial every 2 in [450, 930]",
        "    mlp {",
        "      spatial {",
        "        steps [16, 18, 20]",
        "        blocks [0, 1, 2, 3, 4]",
        "        reuse 2",
        "      }",
        "    }",
        "  }",
        "}",
        "output {",
        '  dir "outputs/a b"',
        "  formats [mp4, latents]",
        "}",
        "",
        "# the end",
        "",
      ].join("\n"),
    );
    expect(printOdit(reparse(printed))).toBe(printed);
  });

  it("breaks long lists, lists with comments and lists of blocks over lines, with trailing commas", () => {
    const prompts = ["a red panda eating bamboo in a misty forest", "a corgi surfing a wave at sunset"];
    const tree = treeOf({ prompts, items: [{ a: 1 }, {}], c: [1, 2] }, { "/c/1": ["the second"] });
    expect(printOdit(tree)).toBe(
      [
        "prompts [",
        '  "a red panda eating bamboo in a misty forest",',
        '  "a corgi surfing a wave at sunset",',
        "]",
        "items [",
        "  {",
        "    a 1",
        "  },",
        "  {},",
        "]",
        "c [",
        "  1,",
        "  # the second",
        "  2,",
        "]",
        "",
      ].join("\n"),
    );
  });

  it("sets a commented entry apart with a blank line, except the first of its block", () => {
    const tree = treeOf({ a: { b: 1, c: 2 } }, { "/a/b": ["first"], "/a/c": ["second"] });
    expect(printOdit(tree)).toBe("a {\n  # first\n  b 1\n\n  # second\n  c 2\n}\n");
  });

  it("drops the YAML modeline, keeping the other file comments", () => {
    const tree = treeOf({ version: 1 }, { "": ["yaml-language-server: $schema=../schema/pipeline-v1.schema.json", "about"] });
    expect(printOdit(tree)).toBe("# about\n\nversion 1\n");
  });
});

describe("printOdit: strings, numbers and keys", () => {
  const cases: [JsonValue, string][] = [
    ["bf16", "bf16"],
    ["t5-v1_1-xxl", "t5-v1_1-xxl"],
    ["DiT-XL/2", "DiT-XL/2"],
    ["everything", "everything"],
    ["every", '"every"'],
    ["x", '"x"'],
    ["true", '"true"'],
    ["null", '"null"'],
    ["1", '"1"'],
    ["-2", '"-2"'],
    ["", '""'],
    ["two words", '"two words"'],
    ["_private", '"_private"'],
    ['say "hi"\n', '"say \\"hi\\"\\n"'],
    ["cfg 2 x dsp 4", '"cfg 2 x dsp 4"'],
    [12, "12"],
    [-0.5, "-0.5"],
    [1e21, "1e+21"],
    [true, "true"],
    [null, "null"],
  ];
  it.each(cases)("prints %j as %s and reads it back", (value, written) => {
    const text = printOdit(treeOf({ v: value }));
    expect(text).toBe(`v ${written}\n`);
    expect(reparse(text).value).toEqual({ v: value });
  });

  it("prints layouts and windows raw at their pointers, and quoted when they do not parse cleanly", () => {
    const tree = treeOf({
      parallel: { layout: "cfg 2 × dsp 4" },
      acceleration: { pab: { spatial: "every 2 in [450,930]", temporal: "off", cross: "every 2 in [930, 450]" } },
      other: { layout: "cfg 2 x dsp 4" },
    });
    const text = printOdit(tree);
    expect(text).toContain("  layout cfg 2 × dsp 4\n");
    expect(text).toContain("    spatial every 2 in [450,930]\n");
    expect(text).toContain("    temporal off\n");
    expect(text).toContain('    cross "every 2 in [930, 450]"\n');
    expect(text).toContain('  layout "cfg 2 x dsp 4"\n');
    expect(reparse(text).value).toEqual(tree.value);
  });

  it("quotes an expression with whitespace around it or a line break inside", () => {
    const tree = treeOf({ parallel: { layout: " cfg 2" }, acceleration: { pab: { spatial: "every 2 in\n[1, 2]" } } });
    const text = printOdit(tree);
    expect(text).toContain('layout " cfg 2"');
    expect(reparse(text).value).toEqual(tree.value);
  });

  it("quotes keys that are not words, keywords, or end with `:`", () => {
    const tree = treeOf({ "my key": 1, x: 2, "a:": 3, in_channels: 4, "": 5 });
    expect(printOdit(tree)).toBe('"my key" 1\n"x" 2\n"a:" 3\nin_channels 4\n"" 5\n');
    expect(reparse(printOdit(tree)).value).toEqual(tree.value);
  });

  it("prints a file that is not a mapping as one value", () => {
    for (const value of [[1, "a"], "text", 3, null, {}, [] as JsonValue]) {
      expect(reparse(printOdit(treeOf(value))).value).toEqual(value);
    }
  });
});

describe("printOdit: round trips", () => {
  it("keeps every comment through print and parse", () => {
    const tree = treeOf(
      { version: 1, model: { family: "dit", hyper: { depth: 2 } }, list: ["a", { k: 1 }] },
      { "": ["file"], "/version": ["v"], "/model/hyper/depth": ["deep", ""], "/list/1": ["item"], "/list/1/k": ["key in item"] },
      ["end"],
    );
    const back = reparse(printOdit(tree));
    expect(back.value).toEqual(tree.value);
    for (const [pointer, node] of tree.nodes) expect(back.nodes.get(pointer)?.comments, pointer).toEqual(node.comments);
    expect(back.trailingComments).toEqual(["end"]);
  });

  it("reads back any JSON value it prints, and prints it again the same way", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const text = printOdit(treeOf(value as JsonValue));
        const back = reparse(text);
        expect(back.value).toEqual(value);
        expect(printOdit(back)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it("reads back strings of any characters", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: "binary", maxLength: 12 })), (object) => {
        expect(reparse(printOdit(treeOf({ o: object }))).value).toEqual({ o: object });
      }),
      { numRuns: 200 },
    );
  });
});
