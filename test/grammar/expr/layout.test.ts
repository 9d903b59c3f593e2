import { describe, expect, it } from "vitest";
import { parseLayout } from "../../../grammar/expr/parse.js";
import { marked } from "../../helpers/markers.js";
import { expectIssuesAt } from "./expect-issues.js";

describe("parseLayout: values", () => {
  it("reads terms, degrees and file ranges shifted by base", () => {
    const m = marked("<|cfg|> <|2|> x <|dsp|> <|4|>");
    const base = 37;
    const result = parseLayout(m.text, base);
    expect(result.issues).toEqual([]);
    const at = (i: number) => ({ start: base + m.ranges[i]!.start, end: base + m.ranges[i]!.end });
    const span = (i: number, j: number) => ({ start: at(i).start, end: at(j).end });
    expect(result.value?.terms).toEqual([
      { axis: "cfg", degree: 2, range: span(0, 1), axisRange: at(0), degreeRange: at(1) },
      { axis: "dsp", degree: 4, range: span(2, 3), axisRange: at(2), degreeRange: at(3) },
    ]);
    expect(result.value?.range).toEqual({ start: base, end: base + m.text.length });
  });

  it("reads four axes in the order written", () => {
    const result = parseLayout("dp 2 x cfg 2 x ulysses 2 x ring 2", 0);
    expect(result.value?.terms.map((t) => [t.axis, t.degree])).toEqual([
      ["dp", 2],
      ["cfg", 2],
      ["ulysses", 2],
      ["ring", 2],
    ]);
  });

  it("reads a single term", () => {
    expect(parseLayout("pipefusion 4", 0).value?.terms.map((t) => [t.axis, t.degree])).toEqual([["pipefusion", 4]]);
  });

  it("accepts `×` and `*` as joiners and whitespace anywhere", () => {
    const result = parseLayout("\t cfg\n2×dsp  4 *ring 2 ", 10);
    expect(result.issues).toEqual([]);
    expect(result.value?.terms.map((t) => `${t.axis}${t.degree}`)).toEqual(["cfg2", "dsp4", "ring2"]);
    expect(result.value?.range).toEqual({ start: 12, end: 10 + "\t cfg\n2×dsp  4 *ring 2".length });
  });

  it("accepts a joiner glued to the degree before it", () => {
    expect(parseLayout("cfg 2x dsp 4", 0).value?.terms.length).toBe(2);
  });

  it("accepts degrees in exponent form when they are whole", () => {
    expect(parseLayout("dsp 8e0", 0).value?.terms[0]?.degree).toBe(8);
  });
});

describe("parseLayout: OD1201 syntax", () => {
  it("says a degree is missing after the axis, at the end", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 x dsp<||>", "OD1201", 100);
    expect(issue!.message).toBe("Expected a degree after `dsp`.");
  });

  it("says a degree is missing, underlining what was found instead", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg <|x|> dsp 4", "OD1201");
    expect(issue!.message).toBe("Expected a degree after `cfg`, found `x`.");
  });

  it("suggests a space for an axis glued to its degree", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 x dsp4<||>", "OD1201");
    expect(issue!.message).toBe("Expected a degree after `dsp4`.");
    expect(issue!.hint).toBe("write `dsp 4`, with a space between the axis and its degree");
  });

  it("says an axis is missing after `x`", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 x <|4|>", "OD1201", 5);
    expect(issue!.message).toBe("Expected an axis after `x`, found `4`.");
  });

  it("says terms must be joined by `x`", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 <|dsp|> 4", "OD1201");
    expect(issue!.message).toBe("Expected `x` before `dsp`.");
    expect(issue!.hint).toContain("cfg 2 x dsp 4");
  });

  it("reports a layout that starts with a number", () => {
    const [issue] = expectIssuesAt(parseLayout, "<|2|> x cfg", "OD1201");
    expect(issue!.message).toMatch(/^Expected an axis name \(dp, cfg, pipefusion, ring, ulysses, dsp\), found `2`/);
  });

  it("reports text after the last term", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2<|,|>", "OD1201");
    expect(issue!.message).toBe("Unexpected `,` after `2`.");
  });

  it("reports characters no token starts with", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 x dsp 4<|#|>", "OD1201", 3);
    expect(issue!.message).toBe("Unexpected character `#`.");
  });

  it("reports an empty layout over the whole text", () => {
    const [issue] = expectIssuesAt(parseLayout, "<|   |>", "OD1201", 8);
    expect(issue!.message).toBe("The layout is empty.");
  });
});

describe("parseLayout: OD1202 unknown axis", () => {
  it("suggests the closest axis", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 x <|ulyses|> 4", "OD1202", 20);
    expect(issue!.message).toBe("Unknown parallel axis `ulyses`. Did you mean `ulysses`?");
    expect(issue!.suggestions).toEqual(["ulysses"]);
  });

  it("explains xDiT's `sp` and `usp`", () => {
    for (const name of ["sp", "usp"]) {
      const [issue] = expectIssuesAt(parseLayout, `<|${name}|> 4`, "OD1202");
      expect(issue!.hint).toContain("ulysses 2 x ring 2");
      expect(issue!.suggestions).toContain("ulysses");
      expect(issue!.suggestions).toContain("ring");
    }
  });

  it("maps `pp` to pipefusion", () => {
    const [issue] = expectIssuesAt(parseLayout, "<|pp|> 2 x cfg 2", "OD1202");
    expect(issue!.suggestions).toEqual(["pipefusion"]);
    expect(issue!.hint).toContain("pipefusion N");
  });

  it("says tensor parallelism is not supported", () => {
    const [issue] = expectIssuesAt(parseLayout, "<|tp|> 2", "OD1202");
    expect(issue!.hint).toMatch(/tensor parallelism is not supported/);
    expect(issue!.suggestions).toBeUndefined();
  });

  it("is case-sensitive but suggests the lower-case name", () => {
    const [issue] = expectIssuesAt(parseLayout, "<|CFG|> 2", "OD1202");
    expect(issue!.suggestions).toEqual(["cfg"]);
  });
});

describe("parseLayout: OD1203 repeated axis and OD1204 degree", () => {
  it("reports the second occurrence of an axis", () => {
    const [issue] = expectIssuesAt(parseLayout, "cfg 2 x dsp 2 x <|cfg|> 2", "OD1203", 4);
    expect(issue!.message).toContain("first as `cfg 2`");
  });

  it("reports a degree below 1 or not whole, on the degree", () => {
    const issues = expectIssuesAt(parseLayout, "cfg <|0|> x dsp <|2.5|> x ring <|-2|>", "OD1204", 9);
    expect(issues[0]!.message).toBe("The degree of `cfg` must be a whole number of at least 1, not `0`.");
    expect(issues[1]!.message).toContain("not `2.5`");
  });

  it("reports an unknown axis and a bad degree together", () => {
    const result = parseLayout("ulyses 0", 0);
    expect(result.value).toBeUndefined();
    expect(result.issues.map((i) => i.code)).toEqual(["OD1202", "OD1204"]);
  });
});
