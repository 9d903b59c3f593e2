/**
 * Guards on the shape of the rule set: one rule per file with a one-sentence doc comment, every rule listed,
 * and every diagnostic code in the catalog both raised by source code and exercised by a test.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { specifiedRules } from "../../../compiler/check/rules/index.js";
import { allCodes } from "../../../diagnostics/codes.js";

const root = join(import.meta.dirname, "../../..");
const rulesDir = join(root, "compiler/check/rules");

function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".") || name === "dist") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out;
}

// Each group keeps its shared wording and span helpers in support.ts; every other file is one rule.
const ruleFiles = filesUnder(rulesDir, (p) => p.endsWith(".ts") && !p.endsWith("/index.ts") && !p.endsWith("/support.ts"));

describe("rule files", () => {
  it("exist", () => {
    expect(ruleFiles.length).toBeGreaterThan(20);
  });

  it.each(ruleFiles.map((f) => [relative(rulesDir, f), f]))("%s holds one documented rule", (_name, path) => {
    const text = readFileSync(path, "utf8");
    const exports = [...text.matchAll(/export const (\w+Rule)\s*:\s*Rule\b/g)].map((m) => m[1]);
    expect(exports).toHaveLength(1);
    const name = exports[0]!;
    expect(text).toMatch(new RegExp(`name:\\s*"${name}"`));
    // The doc comment right above the export states the rule in one sentence.
    const doc = new RegExp(`/\\*\\*([^*]|\\*(?!/))*\\*/\\s*export const ${name}`).exec(text);
    expect(doc, `${name} needs a doc comment`).not.toBeNull();
    const sentence = doc![0].replace(/\/\*\*|\*\/|^\s*\*/gm, "").replace(/export const \w+/, "").trim();
    expect(sentence.length).toBeGreaterThan(10);
    expect(specifiedRules.map((r) => r.name)).toContain(name);
  });

  it("have unique names", () => {
    const names = specifiedRules.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("diagnostic codes", () => {
  const sources = filesUnder(root, (p) => p.endsWith(".ts") && !p.includes("/test/") && !p.endsWith("codes.ts"))
    .map((p) => readFileSync(p, "utf8"))
    .join("\n");
  const tests = filesUnder(join(root, "test"), (p) => p.endsWith(".ts") && !p.endsWith("catalog.test.ts"))
    .map((p) => readFileSync(p, "utf8"))
    .join("\n");

  it.each(allCodes().filter((c) => c !== "OD9001"))("%s is raised by the code and exercised by a test", (code) => {
    expect(sources, `${code} is never raised`).toContain(`"${code}"`);
    expect(tests, `${code} is never tested`).toContain(code);
  });
});
