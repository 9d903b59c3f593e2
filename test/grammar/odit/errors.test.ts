import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseOdit } from "../../../grammar/odit/parse-odit.js";
import { createSourceFile } from "../../../grammar/source.js";
import { expectDiagnosticsAt, parseMarked } from "./parse-marked.js";

describe("OD1101 unexpected character", () => {
  it("underlines the characters no token starts with", () => {
    const [d] = expectDiagnosticsAt(parseMarked("version 1\nseed <|@@|>42"), ["OD1101"]);
    expect(d!.message).toBe("Unexpected characters `@@`.");
  });

  it("advises on YAML and INI habits", () => {
    const [colon, equals, quote] = expectDiagnosticsAt(parseMarked("a <|:|> 1\nb <|=|> 2\nc <|'|>hi<|'|>"), ["OD1101", "OD1101", "OD1101", "OD1101"]);
    expect(colon!.hint).toContain("separated by a space");
    expect(equals!.hint).toContain("separated by a space");
    expect(quote!.hint).toContain("double quotes");
  });
});

describe("OD1102 syntax", () => {
  it("says a value is missing after a key, right after the key when the next token is on another line", () => {
    const [d] = expectDiagnosticsAt(parseMarked("scheduler {\n  kind iddpm\n  steps<||>\n}"), ["OD1102"]);
    expect(d!.message).toBe("Expected a value after `steps`, found `}`.");
  });

  it("says a value is missing, underlining what stands on the same line", () => {
    const [d] = expectDiagnosticsAt(parseMarked("scheduler { steps <|}|>"), ["OD1102"]);
    expect(d!.message).toBe("Expected a value after `steps`, found `}`.");
  });

  it("names the line of an unclosed `{` at the end of the file, with the brace as related location", () => {
    const [d] = expectDiagnosticsAt(parseMarked("version 1\nmodel {\n  family dit<||>\n"), ["OD1102"]);
    expect(d!.message).toBe("Unclosed `{` opened at line 2.");
    expect(d!.related?.[0]).toMatchObject({ start: { line: 2, column: 7 }, message: "`{` opened here" });
  });

  it("names each unclosed bracket once, innermost first", () => {
    const result = parseMarked("a { b [1, 2<||><||>");
    const [list, block] = expectDiagnosticsAt(result, ["OD1102", "OD1102"]);
    expect(list!.message).toBe("Unclosed `[` opened at line 1.");
    expect(block!.message).toBe("Unclosed `{` opened at line 1.");
  });

  it("says `]` is expected when a list meets something else", () => {
    const [d] = expectDiagnosticsAt(parseMarked("a { b [1, 2 <|}|>"), ["OD1102"]);
    expect(d!.message).toBe("Expected `,` or `]` after `2`, found `}`.");
  });

  it("reports a missing comma between list items, and a doubled one", () => {
    const [missing, doubled] = expectDiagnosticsAt(parseMarked("steps [16 <|18|>]\nblocks [0,<|,|>1]"), ["OD1102", "OD1102"]);
    expect(missing!.message).toBe("Expected `,` before `18`.");
    expect(doubled!.message).toBe("Expected a list item before `,`.");
  });

  it("reports a value where a key belongs, and keeps going", () => {
    const [inBlock, top] = expectDiagnosticsAt(parseMarked("video { frames 16 <|9|> }\nseed 1 <|2|>"), ["OD1102", "OD1102"]);
    expect(inBlock!.message).toBe("Expected a key or `}`, found `9`.");
    expect(top!.message).toBe("Expected a key, found `2`.");
  });

  it("reports a `}` or `]` that closes nothing", () => {
    const [brace, bracket] = expectDiagnosticsAt(parseMarked("a 1\n<|}|>\nb 2 <|]|>"), ["OD1102", "OD1102"]);
    expect(brace!.message).toBe("Unexpected `}`: no block is open here.");
    expect(bracket!.message).toBe("Unexpected `]`: no list is open here.");
  });

  it("names the bracket a wrong closer leaves open, once", () => {
    const [d] = expectDiagnosticsAt(parseMarked("video {\n  frames 16 <|]|>\nseed 2"), ["OD1102"]);
    expect(d!.message).toBe("Expected `}` to close the `{` opened at line 1, found `]`.");
    expect(d!.related?.[0]).toMatchObject({ start: { line: 1, column: 7 }, message: "`{` opened here" });
    const [window] = expectDiagnosticsAt(parseMarked("a every 2 in [1, 2 <|}|> b 1"), ["OD1102"]);
    expect(window!.message).toBe("Expected `]` after `2`, found `}`.");
  });

  it("reports a block without a key once, not its contents", () => {
    const [d] = expectDiagnosticsAt(parseMarked("version 1\n<|{|> family dit }"), ["OD1102"]);
    expect(d!.message).toBe("Expected a key before `{`.");
  });

  it("reports a keyword written as a key, and how to quote it", () => {
    const [d] = expectDiagnosticsAt(parseMarked("<|in|> 3"), ["OD1102"]);
    expect(d!.message).toBe("`in` is a keyword, not a key.");
    expect(d!.hint).toBe('write the key in quotes: `"in"`');
  });

  it("reports a YAML-style colon after a key", () => {
    const [d] = expectDiagnosticsAt(parseMarked("family<|:|> stdit"), ["OD1102"]);
    expect(d!.message).toBe("A .odit key is not followed by `:`; write `family stdit`.");
  });

  it("reports an unknown escape in a string", () => {
    const [d] = expectDiagnosticsAt(parseMarked('dir "out<|\\q|>put"'), ["OD1102"]);
    expect(d!.message).toBe("Unknown escape `\\q` in a string.");
  });

  it("words errors inside expressions as the expression parser does", () => {
    const [axis, every] = expectDiagnosticsAt(
      parseMarked("parallel { layout cfg 2 x<||>\n}\npab { spatial every 2 <|[|>450, 930] }"),
      ["OD1102", "OD1102"],
    );
    expect(axis!.message).toBe("Expected an axis after `x`, found `}`.");
    expect(every!.message).toBe("Expected `in` after `every 2`, found `[`.");
  });
});

describe("OD1103 unterminated string and OD1104 duplicate key", () => {
  it("underlines a string left open up to the end of its line", () => {
    const [d] = expectDiagnosticsAt(parseMarked('name <|"open-sora|>\nseed 3'), ["OD1103"]);
    expect(d!.message).toBe("This string is not closed before the end of its line.");
  });

  it("treats an escaped quote as part of the string", () => {
    expectDiagnosticsAt(parseMarked('name <|"a\\"|>'), ["OD1103"]);
  });

  it("reports the second of two equal keys in one block, pointing at the first", () => {
    const [d] = expectDiagnosticsAt(parseMarked("scheduler {\n  steps 30\n  kind ddim\n  <|steps|> 50\n}"), ["OD1104"]);
    expect(d!.message).toBe("The key `steps` appears twice in this block; it is first set at line 2.");
    expect(d!.related).toEqual([expect.objectContaining({ start: expect.objectContaining({ line: 2, column: 3 }), message: "`steps` is first set here" })]);
  });

  it("allows the same key in different blocks, and reports quoted duplicates", () => {
    expect(parseMarked("a { k 1 }\nb { k 2 }").diagnostics).toEqual([]);
    expectDiagnosticsAt(parseMarked('k 1\n<|"k"|> 2'), ["OD1104"]);
  });
});

describe("OD1010 empty file", () => {
  it("reports a file without entries", () => {
    for (const text of ["", "  \n", "# only a comment\n"]) {
      const result = parseOdit(createSourceFile("empty.odit", text));
      expect(result.tree).toBeUndefined();
      expect(result.diagnostics.map((d) => [d.code, d.start.offset])).toEqual([["OD1010", 0]]);
    }
  });
});

describe("recovery", () => {
  it("reports every mistake of a file in one run", () => {
    const source = [
      "version 1",
      "model {",
      "  family stdit",
      "  variant<||>",
      "}",
      "video { frames 16 height <|@|>512 width 512 }",
      "scheduler { kind iddpm  steps [30 <|40|>] }",
      'output { dir <|"outputs|>',
      "  formats [mp4] }",
      "parallel { world 8  layout cfg 2 x dsp <|}|>",
      "<|}|>",
      "seed 1",
      "seed 2",
    ].join("\n");
    const result = parseMarked(source);
    const diagnostics = expectDiagnosticsAt(result, ["OD1102", "OD1101", "OD1102", "OD1103", "OD1102", "OD1102"]);
    expect(diagnostics.length).toBeGreaterThanOrEqual(3);
    // A duplicate key is found only once the syntax is clean: it is not among them.
    expect(diagnostics.map((d) => d.message)).toContain("Expected a degree after `dsp`, found `}`.");
  });
});

describe("parseOdit never throws", () => {
  const pieces = fc.constantFrom("version", "1", "-2.5e3", "model", "{", "}", "[", "]", ",", ";", "\"s\"", "\"open", "\"\\q\"",
    "every", "in", "x", "×", "*", "true", "null", "cfg", "2", "dsp", "#c\n", "\n", " ", "@", ":", "layout", "off", "key:");
  const soup = fc.array(pieces, { maxLength: 30 }).map((p) => p.join(" "));

  function check(text: string): void {
    const result = parseOdit(createSourceFile("fuzz.odit", text));
    expect(result.tree !== undefined).toBe(result.diagnostics.length === 0);
    for (const d of result.diagnostics) {
      expect(d.start.offset).toBeLessThanOrEqual(d.end.offset);
      expect(d.end.offset).toBeLessThanOrEqual(text.length);
      expect(d.code).not.toBe("OD9001");
      expect(d.message).not.toMatch(/Expecting|one of these|opendit-descriptor/);
    }
  }

  it("on random strings", () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), check), { numRuns: 300 });
  });

  it("on random token soups", () => {
    fc.assert(fc.property(soup, check), { numRuns: 500 });
  });

  it("on deep nesting", () => {
    const result = parseOdit(createSourceFile("deep.odit", `a ${"[".repeat(5000)}`));
    expect(result.diagnostics.map((d) => d.code)).toEqual(["OD1102"]);
    expect(result.diagnostics[0]!.message).toContain("nested more than 64 levels");
  });
});
