/** The stylish report and its code frames, on hand-made diagnostics. */
import { describe, expect, it } from "vitest";
import { palette } from "../../cli/color.js";
import { codeFrame } from "../../cli/render/code-frame.js";
import { renderStylish, summaryLine } from "../../cli/render/stylish.js";
import { createSourceFile, positionAt } from "../../grammar/source.js";
import { fileReport, sampleReports } from "./support/file-report.js";

const plain = palette(false);
const ESC = "\u001b[";

function frame(text: string, start: number, end: number): string[] {
  const source = createSourceFile("f.yaml", text);
  return codeFrame(source, positionAt(source, start), positionAt(source, end), { colors: plain, underline: (s) => s, indent: "" });
}

describe("stylish report", () => {
  it("prints header, code frame, hint, suggestions, related places and the summary", () => {
    expect(renderStylish(sampleReports(), plain)).toBe(
      [
        "pipelines/a.yaml:3:3  warning  Trained at 512, asked for 1024.  [OD3313 untrained-resolution]",
        "  3 |   world: 8",
        "    |   ^~~~~~~~",
        "",
        "pipelines/a.yaml:4:11  error  The layout's degrees multiply to 6, but the world size is 8.  [OD3101 layout-product]",
        "  4 |   layout: cfg 2 x dsp 3",
        "    |           ^~~~~~~~~~~~~",
        "  = hint: use `cfg 2 x dsp 4`",
        "  = suggestions: `cfg 2 x dsp 4`, `dsp 8`",
        "  = related: pipelines/a.yaml:3:3: world size set here",
        "",
        "2 problems (1 error, 1 warning) in 2 files",
        "",
      ].join("\n"),
    );
  });

  it("colours only when enabled", () => {
    expect(renderStylish(sampleReports(), plain)).not.toContain(ESC);
    const coloured = renderStylish(sampleReports(), palette(true));
    expect(coloured).toContain(`${ESC}31merror`);
    expect(coloured).toContain(`${ESC}33mwarning`);
    expect(coloured.replace(/\u001b\[\d+m/g, "")).toBe(renderStylish(sampleReports(), plain));
  });

  it("says how many files were checked when there are no problems", () => {
    expect(renderStylish([fileReport("a.yaml", "x: 1\n", []), fileReport("b.odit", "", [])], plain)).toBe("2 files checked, no problems\n");
    expect(summaryLine({ files: 1, errors: 0, warnings: 0, infos: 0 }, plain)).toBe("1 file checked, no problems");
    expect(summaryLine({ files: 1, errors: 0, warnings: 1, infos: 2 }, plain)).toBe("3 problems (0 errors, 1 warning, 2 infos) in 1 file");
  });

  it("prints no code frame for a file without text (an unreadable file)", () => {
    const report = fileReport("missing.yaml", "", [{ code: "OD9002", message: "Cannot read `missing.yaml`." }]);
    expect(renderStylish([report], plain)).toBe(
      "missing.yaml:1:1  error  Cannot read `missing.yaml`.  [OD9002 unreadable-file]\n\n1 problem (1 error, 0 warnings) in 1 file\n",
    );
  });

  it("makes control characters in messages and paths visible, keeping the message's own line breaks", () => {
    const report = fileReport("a\u001b[2Jb.yaml", "k: v\n", [{ code: "OD2001", message: "bad \u001b[31m key\nsecond line", at: "k" }]);
    const out = renderStylish([report], plain);
    expect(out).not.toContain("\u001b");
    expect(out).toContain("a\u241b[2Jb.yaml:1:1");
    expect(out).toContain("bad \u241b[31m key\n  second line");
  });
});

describe("code frame", () => {
  it("underlines exactly the span, with a caret for an empty span", () => {
    expect(frame("abc def ghi", 4, 7)).toEqual(["1 | abc def ghi", "  |     ^~~"]);
    expect(frame("abc def ghi", 4, 4)).toEqual(["1 | abc def ghi", "  |     ^"]);
    expect(frame("abc", 3, 3)).toEqual(["1 | abc", "  |    ^"]);
  });

  it("underlines a multi-line span to the end of its first line", () => {
    expect(frame("one\ntwo three\nfour", 8, 16)).toEqual(["2 | two three", "  |     ^~~~~"]);
  });

  it("widens the gutter for long line numbers", () => {
    const text = `${"x\n".repeat(120)}target`;
    expect(frame(text, text.indexOf("target"), text.length)).toEqual(["121 | target", "    | ^~~~~~"]);
  });

  it("expands tabs to tab stops and keeps the underline aligned", () => {
    expect(frame("\tk:\tv", 4, 5)).toEqual(["1 |     k:  v", "  |         ^"]);
  });

  it("shows control characters as control pictures and counts astral characters as two cells", () => {
    expect(frame("a\u0000b: 😀x", 7, 8)).toEqual(["1 | a\u2400b: 😀x", "  |        ^"]);
    expect(frame("\u202eab", 1, 3)).toEqual(["1 | \ufffdab", "  |  ^~"]);
  });

  it("shows a window of a very long line around the span", () => {
    const text = `${"a".repeat(1000)}TARGET${"b".repeat(1000)}`;
    const [line, underline] = frame(text, 1000, 1006);
    expect(line!.length).toBeLessThan(200);
    expect(line).toMatch(/^1 \| …a+TARGETb+…$/);
    expect(line!.indexOf("TARGET")).toBe(underline!.indexOf("^"));
    expect(underline).toMatch(/\^~{5}$/);
  });
});
