/** printYaml: canonical layout, quoting that reads back, comments kept, round trip and idempotence. */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { createSourceFile } from "../../../grammar/source.js";
import { joinPointer, type JsonValue, type NodeSpan, type SourceTree } from "../../../grammar/source-tree.js";
import { printYaml } from "../../../grammar/yaml/print-yaml.js";
import { parseText } from "./parse-helpers.js";

/** A tree for `value` with comments at the given pointers (spans do not matter to the printer). */
function treeOf(value: JsonValue | undefined, comments: Record<string, string[]> = {}, trailingComments?: string[]): SourceTree {
  const nodes = new Map<string, NodeSpan>();
  for (const [pointer, lines] of Object.entries(comments)) nodes.set(pointer, { value: { start: 0, end: 0 }, comments: lines });
  return {
    file: createSourceFile("tree.yaml", ""),
    syntax: "yaml",
    value,
    nodes,
    ...(trailingComments ? { trailingComments } : {}),
  };
}

/** Parses `text`, failing on errors, and returns its tree. */
function treeFromText(text: string): SourceTree {
  const parsed = parseText(text);
  expect(parsed.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return parsed.tree!;
}

/** Print, read back, print again: the value survives and the text is stable. */
function expectRoundTrip(tree: SourceTree): string {
  const printed = printYaml(tree);
  const reread = parseText(printed);
  expect(reread.diagnostics, printed).toEqual([]);
  expect(reread.tree?.value).toEqual(tree.value);
  expect(printYaml(reread.tree!)).toBe(printed);
  return printed;
}

function pointersOf(value: JsonValue, pointer = ""): string[] {
  const here = [pointer];
  if (Array.isArray(value)) return here.concat(...value.map((item, i) => pointersOf(item, joinPointer(pointer, i))));
  if (value !== null && typeof value === "object") {
    return here.concat(...Object.entries(value).map(([key, item]) => pointersOf(item, joinPointer(pointer, key))));
  }
  return here;
}

const PIPELINE = `# yaml-language-server: $schema=../schema/pipeline-v1.schema.json
version: 1
model: {family: opensora, variant: "STDiT3-XL/2"}   # the model
parallel:
  layout: cfg 2 x dsp 4
# the prompts
prompts:
- a cat
-   "yes"
sizes: [ 1, 2,3 ]
acceleration:
  pab:
    spatial: every 2 in [450, 930]
    temporal: off
windows: ["every 2 in [450, 930]", "1:30", "", 'a, b']
long: [aaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbbbbbb, cccccccccccccccccccccccc, dddddddddddddddddddddd]
nested:
  - - 1
    - {x: 1}
  - # item comment
    k: v
    # second key
    j: [1, [2]]
  - []
  - {}
numbers: [7.0, 1.0e-7, .inf, -0]
empty:
# the end
`;

const PRINTED = `# yaml-language-server: $schema=../schema/pipeline-v1.schema.json

version: 1
# the model
model:
  family: opensora
  variant: STDiT3-XL/2
parallel:
  layout: cfg 2 x dsp 4
# the prompts
prompts: [a cat, "yes"]
sizes: [1, 2, 3]
acceleration:
  pab:
    spatial: every 2 in [450, 930]
    temporal: off
windows: ["every 2 in [450, 930]", "1:30", "", "a, b"]
long:
  - aaaaaaaaaaaaaaaaaaaa
  - bbbbbbbbbbbbbbbbbbbbbbbbbbbb
  - cccccccccccccccccccccccc
  - dddddddddddddddddddddd
nested:
  - - 1
    - x: 1
  # item comment
  - k: v
    # second key
    j:
      - 1
      - [2]
  - []
  - {}
numbers: [7, 1.0e-7, .inf, -0]
empty: null
# the end
`;

describe("layout", () => {
  test("a pipeline comes out in canonical layout, comments kept", () => {
    expect(printYaml(treeFromText(PIPELINE))).toBe(PRINTED);
    expectRoundTrip(treeFromText(PIPELINE));
  });

  test("canonical text prints as itself", () => {
    expect(printYaml(treeFromText(PRINTED))).toBe(PRINTED);
  });

  test("lists of scalars are flow up to 100 characters per line, block beyond", () => {
    const fits = ["x".repeat(40), "y".repeat(40)];
    expect(printYaml(treeOf({ key: fits }))).toBe(`key: [${fits.join(", ")}]\n`);
    const wide = ["x".repeat(48), "y".repeat(48)];
    expect(printYaml(treeOf({ key: wide }))).toBe(`key:\n  - ${wide[0]}\n  - ${wide[1]}\n`);
  });

  test("a list with a commented item is a block list", () => {
    expect(printYaml(treeOf({ a: [1, 2] }, { "/a/1": ["two"] }))).toBe("a:\n  - 1\n  # two\n  - 2\n");
  });

  test("mappings are never flow, except an empty one", () => {
    expect(printYaml(treeOf({ a: { b: { c: 1 } }, d: {}, e: [] }))).toBe("a:\n  b:\n    c: 1\nd: {}\ne: []\n");
  });

  test("scalars and empty collections at the root", () => {
    expect(printYaml(treeOf("text"))).toBe("text\n");
    expect(printYaml(treeOf(null))).toBe("null\n");
    expect(printYaml(treeOf([]))).toBe("[]\n");
    expect(printYaml(treeOf([1, "a"]))).toBe("[1, a]\n");
  });

  test("a tree without a value prints its comments only", () => {
    expect(printYaml(treeOf(undefined, { "": ["just this"] }))).toBe("# just this\n");
  });
});

describe("scalars", () => {
  test.each([
    ["1", '"1"'],
    ["true", '"true"'],
    ["null", '"null"'],
    ["no", '"no"'],
    ["yes", '"yes"'],
    ["1e-4", '"1e-4"'],
    ["1:30", '"1:30"'],
    ["2024-01-01", '"2024-01-01"'],
    ["", '""'],
    ["a: b", '"a: b"'],
    ["#x", '"#x"'],
    [" lead", '" lead"'],
    ["two\nlines", '"two\\nlines"'],
    ["every 2 in [450, 930]", "every 2 in [450, 930]"],
    ["cfg 2 x dsp 4", "cfg 2 x dsp 4"],
    ["STDiT3-XL/2", "STDiT3-XL/2"],
  ])("the string %j is written %s", (value, written) => {
    expect(printYaml(treeOf({ v: value }))).toBe(`v: ${written}\n`);
    expectRoundTrip(treeOf({ v: value }));
  });

  test("keys that would read as something else are quoted", () => {
    const printed = expectRoundTrip(treeOf({ "<<": 1, yes: 2, "1": 3, "a: b": 4, "": 5 }));
    expect(printed).toBe('"1": 3\n"<<": 1\n"yes": 2\n"a: b": 4\n"": 5\n');
  });

  test("`off` stays plain for PAB windows and is quoted elsewhere", () => {
    const tree = treeOf({ acceleration: { pab: { spatial: "off" } }, other: "off" });
    expect(printYaml(tree)).toBe('acceleration:\n  pab:\n    spatial: off\nother: "off"\n');
  });

  test("numbers as JavaScript writes them, with exponents every reader agrees on", () => {
    const printed = expectRoundTrip(treeOf({ a: 7.0, b: 0.0001, c: 1e-7, d: 1e21, e: -2.5, f: 123456789 }));
    expect(printed).toBe("a: 7\nb: 0.0001\nc: 1.0e-7\nd: 1.0e+21\ne: -2.5\nf: 123456789\n");
  });

  test("non-finite numbers use YAML's spellings", () => {
    expect(printYaml(treeOf({ a: Infinity, b: -Infinity, c: NaN }))).toBe("a: .inf\nb: -.inf\nc: .nan\n");
    expectRoundTrip(treeOf({ a: Infinity, b: -Infinity, c: NaN }));
  });

  test("printed output raises no YAML 1.1 warnings", () => {
    const printed = printYaml(treeOf({ a: ["yes", "off", "010", "1_000", "0b11", "y"], b: 1e-9 }));
    expect(parseText(printed).diagnostics).toEqual([]);
  });
});

describe("comments", () => {
  test("document comments first, then entries with their comments, trailing comments last", () => {
    const tree = treeOf({ a: { b: 1 }, c: [1] }, { "": ["top"], "/a": ["about a"], "/a/b": ["about b", "", "  indented"] }, ["bye"]);
    const printed = expectRoundTrip(tree);
    expect(printed).toBe("# top\n\n# about a\na:\n  # about b\n  #\n  #   indented\n  b: 1\nc: [1]\n# bye\n");
  });

  test("an item's comments go above its dash, its first entry's below it", () => {
    const tree = treeOf({ list: [{ k: 1, j: 2 }, [3, 4], { m: 5 }] }, {
      "/list/0": ["item"],
      "/list/0/k": ["first key"],
      "/list/0/j": ["second key"],
      "/list/1/0": ["three"],
      "/list/2": ["compact"],
    });
    expect(printYaml(tree)).toBe(
      [
        "list:",
        "  # item",
        "  -",
        "    # first key",
        "    k: 1",
        "    # second key",
        "    j: 2",
        "  -",
        "    # three",
        "    - 3",
        "    - 4",
        "  # compact",
        "  - m: 5",
        "",
      ].join("\n"),
    );
    const reread = parseText(printYaml(tree)).tree!;
    const kept = { "/list/0": ["item"], "/list/0/k": ["first key"], "/list/1/0": ["three"], "/list/2": ["compact"] };
    for (const [pointer, lines] of Object.entries(kept)) expect(reread.nodes.get(pointer)?.comments).toEqual(lines);
    expectRoundTrip(tree);
  });

  test("comment text with line breaks or trailing spaces is normalised", () => {
    const printed = printYaml(treeOf({ a: 1 }, { "/a": ["one\ntwo  "] }));
    expect(printed).toBe("# one\n# two\na: 1\n");
  });
});

describe("round trip", () => {
  test.each([
    ["a pipeline", PIPELINE],
    ["nested lists", "a:\n  - - - 1\n      - 2\n    - [3]\n  - - {b: [c, {d: e}]}\n"],
    ["comments everywhere", "# doc\n\n# a\na: 1 # one\n# b\nb:\n  # c\n  c:\n    # item\n    - x # eol\n    # item 2\n    - y\n# tail\n"],
    ["strings needing quotes", "a: '1'\nb: 'true'\nc: \"no\"\nd: ''\ne: \"x: y\"\nf: '- z'\ng: \"tab\\there\"\nh: \"quote ' and \\\" both\"\n"],
    ["block scalars", "a: |\n  line one\n  line two\nb: >-\n  folded\n  text\n"],
    ["aliases", "base: &b {x: 1}\ncopy: *b\n"],
    ["unicode", "name: café\nemoji: \"🙂\"\ncjk: 日本語\n"],
  ])("%s", (_, text) => {
    const tree = parseText(text).tree!;
    expectRoundTrip(tree);
  });

  const tricky = fc.constantFrom(
    "yes", "no", "off", "on", "y", "1", "0.5", "true", "null", "~", "", " ", "a: b", "#", "# c", "<<", "- x", "? q",
    "every 2 in [450, 930]", "1e-4", "010", "1:30", "0b11", "0o7", "1_0", "2024-01-01", " lead", "trail ", "a\nb",
    "'q'", '"dq"', "\\", "x".repeat(120), "[a]", "{a}", "&a", "*a", "!t", "%p", "@", "`", "|", ">", "---", "...",
  );
  const key = fc.oneof(tricky, fc.string({ maxLength: 12 }));
  const scalar = fc.oneof(tricky, fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
  const value = fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      scalar,
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(key, tie("value"), { maxKeys: 4 }),
    ),
  })).value;

  test("random values print, read back equal, and print again the same", () => {
    fc.assert(
      fc.property(value, fc.array(fc.string({ maxLength: 20 }), { maxLength: 6 }), (v, comments) => {
        const pointers = pointersOf(v);
        const placed: Record<string, string[]> = {};
        comments.forEach((comment, i) => {
          const pointer = pointers[(i * 7) % pointers.length]!;
          (placed[pointer] ??= []).push(comment);
        });
        const tree = treeOf(v, placed, comments.length > 2 ? [comments[2]!] : undefined);
        const printed = printYaml(tree);
        const reread = parseText(printed);
        expect(reread.diagnostics, printed).toEqual([]);
        expect(reread.tree?.value).toEqual(v);
        expect(printYaml(reread.tree!)).toBe(printed);
      }),
      { numRuns: 300 },
    );
  });

  test("random JSON with any unicode prints and reads back", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }), (v) => {
        const printed = printYaml(treeOf(v as JsonValue));
        const reread = parseText(printed);
        expect(reread.diagnostics.filter((d) => d.severity === "error"), printed).toEqual([]);
        expect(reread.tree?.value).toEqual(v);
        expect(printYaml(reread.tree!)).toBe(printed);
      }),
      { numRuns: 200 },
    );
  });
});
