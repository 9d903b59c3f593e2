/** The code listing: docs/DIAGNOSTICS.md stays generated from the catalog; lookup for `opendit explain`. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { lookupCode } from "../../cli/code-lookup.js";
import { codeGroups, renderCodesMarkdown, renderCodesText, renderExplain, untitledRanges } from "../../cli/render/codes.js";
import { allCodes, codeInfo } from "../../diagnostics/codes.js";

const DOC = new URL("../../docs/DIAGNOSTICS.md", import.meta.url);

describe("code listing", () => {
  it("docs/DIAGNOSTICS.md is the output of `opendit codes --markdown` (regenerate it when this fails)", () => {
    expect(readFileSync(DOC, "utf8")).toBe(renderCodesMarkdown());
  });

  it("lists every code exactly once, in a titled group of its range", () => {
    expect(untitledRanges()).toEqual([]);
    const listed = codeGroups().flatMap((g) => g.codes);
    expect(listed).toEqual(allCodes());
    for (const group of codeGroups()) {
      for (const code of group.codes) expect(code.startsWith(group.range.slice(0, 4))).toBe(true);
    }
    const markdown = renderCodesMarkdown();
    for (const code of allCodes()) {
      const info = codeInfo(code);
      expect(markdown).toContain(`| ${code} | \`${info.name}\` | ${info.severity} | `);
    }
    const text = renderCodesText();
    for (const code of allCodes()) expect(text).toContain(code);
  });

  it("finds a code by code (any case) or by name, and suggests near misses", () => {
    expect(lookupCode("OD3101")).toEqual({ found: "OD3101" });
    expect(lookupCode("od3101")).toEqual({ found: "OD3101" });
    expect(lookupCode("layout-product")).toEqual({ found: "OD3101" });
    const miss = lookupCode("layout-produkt");
    expect(miss.found).toBeUndefined();
    expect("message" in miss && miss.message).toContain("`layout-product`");
    expect(renderExplain("OD3101")).toBe(`OD3101 layout-product (error)\n${codeInfo("OD3101").summary}\n`);
  });
});
