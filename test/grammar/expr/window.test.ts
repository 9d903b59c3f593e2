import { describe, expect, it } from "vitest";
import { parseWindow } from "../../../grammar/expr/parse.js";
import { marked } from "../../helpers/markers.js";
import { expectIssuesAt } from "./expect-issues.js";

describe("parseWindow: values", () => {
  it("reads every, the bounds and their file ranges shifted by base", () => {
    const m = marked("every <|2|> in [<|450|>, <|930|>]");
    const base = 211;
    const result = parseWindow(m.text, base);
    const at = (i: number) => ({ start: base + m.ranges[i]!.start, end: base + m.ranges[i]!.end });
    expect(result).toEqual({
      value: { kind: "window", every: 2, low: 450, high: 930, range: { start: base, end: base + m.text.length }, everyRange: at(0), lowRange: at(1), highRange: at(2) },
      issues: [],
    });
  });

  it("reads decimal and negative bounds and any whitespace", () => {
    const result = parseWindow(" every\t3 in[ -1.5 ,\n 900.25 ] ", 0);
    expect(result.value).toMatchObject({ kind: "window", every: 3, low: -1.5, high: 900.25 });
  });

  it("reads `off`", () => {
    expect(parseWindow("  off ", 40)).toEqual({ value: { kind: "off", range: { start: 42, end: 45 } }, issues: [] });
  });
});

describe("parseWindow: OD1211 syntax", () => {
  it("says what a window looks like when it is something else", () => {
    const [issue] = expectIssuesAt(parseWindow, "<|of|>", "OD1211", 3);
    expect(issue!.message).toBe("Expected `every N in [low, high]` or `off`, found `of`.");
  });

  it("says `in` is missing", () => {
    const [issue] = expectIssuesAt(parseWindow, "every 2 <|[|>450, 930]", "OD1211");
    expect(issue!.message).toBe("Expected `in` after `every 2`, found `[`.");
  });

  it("says the step interval is missing", () => {
    const [issue] = expectIssuesAt(parseWindow, "every <|in|> [1, 2]", "OD1211");
    expect(issue!.message).toBe("Expected the step interval N (a number) after `every`, found `in`.");
  });

  it("says the comma between the bounds is missing", () => {
    const [issue] = expectIssuesAt(parseWindow, "every 2 in [450 <|930|>]", "OD1211");
    expect(issue!.message).toBe("Expected `,` between the low and high bounds, found `930`.");
  });

  it("says the bracket is not closed, at the end", () => {
    const [issue] = expectIssuesAt(parseWindow, "every 2 in [450, 930<||>", "OD1211", 12);
    expect(issue!.message).toBe("Unclosed `[`.");
  });

  it("reports text after the window", () => {
    const [issue] = expectIssuesAt(parseWindow, "every 2 in [1, 2] <|x|>", "OD1211");
    expect(issue!.message).toBe("Unexpected `x` after the window's `]`.");
  });

  it("reports an empty window", () => {
    const [issue] = expectIssuesAt(parseWindow, "<||>", "OD1211", 6);
    expect(issue!.message).toBe("The PAB window is empty.");
  });
});

describe("parseWindow: OD1212 bounds", () => {
  it("reports low >= high over both bounds", () => {
    const [issue] = expectIssuesAt(parseWindow, "every 2 in [<|930, 450|>]", "OD1212", 50);
    expect(issue!.message).toBe("The window's low bound 930 must be below its high bound 450.");
    expect(issue!.hint).toBe("write `[450, 930]`");
    expectIssuesAt(parseWindow, "every 2 in [<|500, 500|>]", "OD1212");
  });

  it("reports every below 1 or not whole", () => {
    expectIssuesAt(parseWindow, "every <|0|> in [1, 2]", "OD1212");
    expectIssuesAt(parseWindow, "every <|1.5|> in [1, 2]", "OD1212");
    expectIssuesAt(parseWindow, "every <|-3|> in [<|5, 1|>]", "OD1212");
  });
});
