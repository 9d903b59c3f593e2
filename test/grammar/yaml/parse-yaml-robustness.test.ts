/** parseYaml never throws and stays quick, whatever bytes it is given; what it accepts, printYaml keeps. */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ParseResult } from "../../../grammar/parse.js";
import { printYaml } from "../../../grammar/yaml/print-yaml.js";
import { parseText } from "./parse-helpers.js";

/** A small deterministic generator, so that a failure names its input. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 0x100000000;
  };
}

function expectSane(text: string, parsed: ParseResult): void {
  expect(parsed.diagnostics.filter((d) => d.code === "OD9001"), JSON.stringify(text)).toEqual([]);
  for (const d of parsed.diagnostics) {
    expect(d.start.offset).toBeGreaterThanOrEqual(0);
    expect(d.end.offset).toBeGreaterThanOrEqual(d.start.offset);
    expect(d.end.offset).toBeLessThanOrEqual(text.length);
    expect(d.message.length).toBeGreaterThan(0);
  }
  if (parsed.tree) {
    expect(parsed.tree.nodes.has("")).toBe(true);
    for (const node of parsed.tree.nodes.values()) {
      expect(node.value.start).toBeGreaterThanOrEqual(0);
      expect(node.value.end).toBeLessThanOrEqual(text.length);
    }
  }
}

const YAMLISH = [
  ..."-:?[]{},#&*!|>'\"%@`\\",
  ...[" ", " ", "  ", "\n", "\n", "\t", "\r\n"],
  ...["a", "b", "key", "1", "0", ".", "e", "~", "<<", "---", "...", "yes"],
];

describe("never throws", () => {
  test("random code units, including lone surrogates and control characters", () => {
    const next = generator(20240501);
    for (let i = 0; i < 400; i++) {
      let text = "";
      const length = Math.floor(next() * 300);
      for (let j = 0; j < length; j++) text += String.fromCharCode(Math.floor(next() * (next() < 0.7 ? 128 : 0x10000)));
      expectSane(text, parseText(text));
    }
  });

  test("random soup of YAML indicators", () => {
    const next = generator(7);
    for (let i = 0; i < 400; i++) {
      let text = "";
      const length = Math.floor(next() * 80);
      for (let j = 0; j < length; j++) text += YAMLISH[Math.floor(next() * YAMLISH.length)];
      expectSane(text, parseText(text));
    }
  });

  test("arbitrary strings (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        expectSane(text, parseText(text));
      }),
      { numRuns: 300 },
    );
  });

  test.each([
    ["flow lists", "[".repeat(100_000)],
    ["flow mappings", "{".repeat(50_000)],
    ["block mappings", Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")],
    ["block lists", Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i * 2)}-`).join("\n")],
  ])("deeply nested %s are refused quickly", (_, text) => {
    const started = performance.now();
    const parsed = parseText(text);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(parsed.diagnostics.some((d) => d.code === "OD1001" && d.message.includes("nested too deeply"))).toBe(true);
    expect(parsed.diagnostics.length).toBeLessThanOrEqual(100);
  });

  test("a parser error repeated many times is reported once", () => {
    const parsed = parseText(`a: ${"[".repeat(60)}\nb: 1\n`);
    const keys = parsed.diagnostics.map((d) => `${d.code} ${d.start.offset} ${d.end.offset} ${d.message}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test("a large flat document parses in reasonable time", () => {
    const text = Array.from({ length: 5000 }, (_, i) => `key${i}: [value ${i}, ${i}.5, true]`).join("\n");
    const started = performance.now();
    const parsed = parseText(text);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(parsed.diagnostics).toEqual([]);
    expect(Object.keys(parsed.tree!.value as object)).toHaveLength(5000);
  });
});

describe("what parses cleanly prints back", () => {
  test("random YAML that parses without errors prints to text that reads back the same and is stable", () => {
    const next = generator(99);
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      let text = "";
      const length = Math.floor(next() * 40);
      for (let j = 0; j < length; j++) text += YAMLISH[Math.floor(next() * YAMLISH.length)];
      const parsed = parseText(text);
      if (!parsed.tree || parsed.diagnostics.some((d) => d.severity === "error")) continue;
      checked++;
      const printed = printYaml(parsed.tree);
      const reread = parseText(printed);
      expect(reread.diagnostics.filter((d) => d.severity === "error"), `${JSON.stringify(text)} -> ${JSON.stringify(printed)}`).toEqual([]);
      expect(reread.tree?.value, JSON.stringify(text)).toEqual(parsed.tree.value);
      expect(printYaml(reread.tree!), JSON.stringify(text)).toBe(printed);
    }
    expect(checked).toBeGreaterThan(100);
  });
});
