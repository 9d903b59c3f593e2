/** The SourceTree that parseYaml builds: the JSON value, the span of every node, contentStart and comments. */
import { describe, expect, test } from "vitest";
import { joinPointer, type JsonValue } from "../../../grammar/source-tree.js";
import { nodeAt, parseMarked, parseText } from "./parse-helpers.js";

function pointersOf(value: JsonValue, pointer = ""): string[] {
  const here = [pointer];
  if (Array.isArray(value)) return here.concat(...value.map((item, i) => pointersOf(item, joinPointer(pointer, i))));
  if (value !== null && typeof value === "object") {
    return here.concat(...Object.entries(value).map(([key, item]) => pointersOf(item, joinPointer(pointer, key))));
  }
  return here;
}

describe("value", () => {
  test("mappings, lists and scalars become plain JSON, keys in written order", () => {
    const parsed = parseText(
      [
        "version: 1",
        "name: opensora",
        "ratio: 0.5",
        "enabled: true",
        "nothing: null",
        "tilde: ~",
        "list: [1, two, 3.5]",
        "block:",
        "  - a",
        "  - b: c",
        "0: zero",
        "zebra: z",
        "apple: a",
        "",
      ].join("\n"),
    );
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.tree?.value).toEqual({
      version: 1,
      name: "opensora",
      ratio: 0.5,
      enabled: true,
      nothing: null,
      tilde: null,
      list: [1, "two", 3.5],
      block: ["a", { b: "c" }],
      "0": "zero",
      zebra: "z",
      apple: "a",
    });
    expect(Object.keys(parsed.tree!.value as object).filter((k) => k !== "0")).toEqual([
      "version",
      "name",
      "ratio",
      "enabled",
      "nothing",
      "tilde",
      "list",
      "block",
      "zebra",
      "apple",
    ]);
    expect(parsed.tree?.syntax).toBe("yaml");
  });

  test("a key named __proto__ is an ordinary key, not a prototype", () => {
    const parsed = parseText("__proto__:\n  polluted: true\n");
    const value = parsed.tree!.value as Record<string, unknown>;
    expect(Object.prototype.hasOwnProperty.call(value, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test(".inf and .nan become JavaScript numbers, left for the schema to judge", () => {
    const value = parseText("a: .inf\nb: -.inf\nc: .nan\nd: 123456789012345678901234567890\n").tree!.value as Record<string, number>;
    expect(value.a).toBe(Infinity);
    expect(value.b).toBe(-Infinity);
    expect(value.c).toBeNaN();
    expect(value.d).toBeCloseTo(1.2345678901234568e29, -15);
  });

  test("a document may start with --- and end with ...", () => {
    const parsed = parseText("---\na: 1\n...\n");
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.tree?.value).toEqual({ a: 1 });
  });
});

describe("spans", () => {
  test("keys and values of nested block mappings", () => {
    const parsed = parseMarked("<|<|model|>:\n  <|family|>: <|dit|>\n  <|steps|>: <|50|>|>\n");
    // Ranges come sorted by start; of two that start together, the inner one comes first.
    const [modelKey, root, familyKey, family, stepsKey, steps] = parsed.ranges;
    expect(nodeAt(parsed, "").value).toEqual(root);
    expect(nodeAt(parsed, "/model").key).toEqual(modelKey);
    expect(nodeAt(parsed, "/model/family")).toMatchObject({ key: familyKey, value: family });
    expect(nodeAt(parsed, "/model/steps")).toMatchObject({ key: stepsKey, value: steps });
  });

  test("a mapping value spans from its first key to the end of its last value, without trailing comments", () => {
    const parsed = parseMarked("model:\n  <|family: dit\n  steps: 50|>   # fifty\nnext: 1\n");
    expect(nodeAt(parsed, "/model").value).toEqual(parsed.ranges[0]);
  });

  test("items of flow and block lists", () => {
    const parsed = parseMarked("flow: <|[<|1|>, <|two|>]|>\nblock:\n  - <|a|>\n  - <|{x: <|1|>}|>\n");
    const [flow, one, two, a, map, x] = parsed.ranges;
    expect(nodeAt(parsed, "/flow").value).toEqual(flow);
    expect(nodeAt(parsed, "/flow/0").value).toEqual(one);
    expect(nodeAt(parsed, "/flow/1").value).toEqual(two);
    expect(nodeAt(parsed, "/block/0").value).toEqual(a);
    expect(nodeAt(parsed, "/block/1").value).toEqual(map);
    expect(nodeAt(parsed, "/block/1/x").value).toEqual(x);
    expect(nodeAt(parsed, "/block/0").key).toBeUndefined();
  });

  test("an empty value is null, at a zero-width span just after the colon", () => {
    const parsed = parseMarked("<|model|>:<||>\nnext: 1\n");
    expect(parsed.tree?.value).toEqual({ model: null, next: 1 });
    expect(nodeAt(parsed, "/model")).toMatchObject({ key: parsed.ranges[0], value: parsed.ranges[1] });
  });

  test("every node of the value has a span, the root included", () => {
    const parsed = parseText("a:\n  b: [1, {c: d}]\n  e:\n    - f\n    - []\n    - {}\ng: ''\n");
    const pointers = pointersOf(parsed.tree!.value!);
    expect([...parsed.tree!.nodes.keys()].sort()).toEqual(pointers.sort());
  });

  test("keys with / and ~ are escaped in pointers", () => {
    const parsed = parseMarked("\"a/b\": <|1|>\n\"c~d\": <|2|>\n");
    expect(nodeAt(parsed, "/a~1b").value).toEqual(parsed.ranges[0]);
    expect(nodeAt(parsed, "/c~0d").value).toEqual(parsed.ranges[1]);
  });

  test("a value reached through an alias is placed at the alias site, children included", () => {
    const parsed = parseMarked("base: &b [1, 2]\ncopy: <|*b|>\n");
    expect(parsed.tree?.value).toEqual({ base: [1, 2], copy: [1, 2] });
    expect(nodeAt(parsed, "/copy").value).toEqual(parsed.ranges[0]);
    expect(nodeAt(parsed, "/copy/0").value).toEqual(parsed.ranges[0]);
    expect(nodeAt(parsed, "/copy/1").value).toEqual(parsed.ranges[0]);
  });
});

describe("contentStart", () => {
  test("plain strings start where they are written", () => {
    const parsed = parseMarked("layout: <|cfg 2 x dsp 4|>\n");
    expect(nodeAt(parsed, "/layout").contentStart).toBe(parsed.ranges[0]!.start);
  });

  test("quoted strings without escapes start after the opening quote", () => {
    const parsed = parseMarked("a: \"<|every 2 in [450, 930]|>\"\nb: '<|x|>'\n");
    expect(nodeAt(parsed, "/a").contentStart).toBe(parsed.ranges[0]!.start);
    expect(nodeAt(parsed, "/b").contentStart).toBe(parsed.ranges[1]!.start);
  });

  test("strings not written character for character have none", () => {
    const parsed = parseText("a: \"q\\tq\"\nb: 'it''s'\nc: |\n  block\nd: folded\n  plain\ne: 5\n");
    expect((parsed.tree!.value as Record<string, unknown>).d).toBe("folded plain");
    for (const key of ["a", "b", "c", "d", "e"]) expect(nodeAt(parsed, `/${key}`).contentStart).toBeUndefined();
  });
});

describe("comments", () => {
  test("the modeline goes to the document, comments above an entry to the entry", () => {
    const parsed = parseText(
      [
        "# yaml-language-server: $schema=../schema/pipeline-v1.schema.json",
        "# the version",
        "version: 1",
        "model:",
        "  # which family",
        "  #   (indented text is kept)",
        "  family: dit",
        "",
      ].join("\n"),
    );
    expect(nodeAt(parsed, "").comments).toEqual(["yaml-language-server: $schema=../schema/pipeline-v1.schema.json"]);
    expect(nodeAt(parsed, "/version").comments).toEqual(["the version"]);
    expect(nodeAt(parsed, "/model/family").comments).toEqual(["which family", "  (indented text is kept)"]);
    expect(nodeAt(parsed, "/model").comments).toBeUndefined();
  });

  test("comments separated from the first entry by a blank line belong to the document", () => {
    const parsed = parseText("# Open-Sora on 8 GPUs\n#\n# with DSP\n\n# first\nversion: 1\n");
    expect(nodeAt(parsed, "").comments).toEqual(["Open-Sora on 8 GPUs", "", "with DSP"]);
    expect(nodeAt(parsed, "/version").comments).toEqual(["first"]);
  });

  test("list items keep the comments above them", () => {
    const parsed = parseText("prompts:\n  # first\n  - a cat\n  # second\n  - a dog\n");
    expect(nodeAt(parsed, "/prompts/0").comments).toEqual(["first"]);
    expect(nodeAt(parsed, "/prompts/1").comments).toEqual(["second"]);
  });

  test("end-of-line comments are kept with the entry on their line", () => {
    const parsed = parseText("# above\nsteps: 50 # fifty\nmodel: # the model\n  family: dit\n");
    expect(nodeAt(parsed, "/steps").comments).toEqual(["above", "fifty"]);
    expect(nodeAt(parsed, "/model").comments).toEqual(["the model"]);
  });

  test("a comment after the last entry of a nested mapping goes to the next entry", () => {
    const parsed = parseText("a:\n  b: 1\n  # about c\nc: 2\n");
    expect(nodeAt(parsed, "/c").comments).toEqual(["about c"]);
  });

  test("comments after the last entry are trailing comments", () => {
    const parsed = parseText("a:\n  b: 1\n# the end\n#   really\n");
    expect(parsed.tree?.trailingComments).toEqual(["the end", "  really"]);
  });

  test("# inside block scalars and quoted strings is text, not a comment", () => {
    const parsed = parseText("a: |\n  # not a comment\nb: 'x # y'\n");
    expect(parsed.tree?.value).toEqual({ a: "# not a comment\n", b: "x # y" });
    expect([...parsed.tree!.nodes.values()].some((n) => n.comments)).toBe(false);
    expect(parsed.tree?.trailingComments).toBeUndefined();
  });

  test("comments inside a flow list go to the next item", () => {
    const parsed = parseText("a: [\n  # one\n  1,\n  2]\n");
    expect(nodeAt(parsed, "/a/0").comments).toEqual(["one"]);
  });
});
