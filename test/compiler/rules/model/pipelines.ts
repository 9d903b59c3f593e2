/**
 * Helpers for the model and scheduler rule tests: `dedent` lets a test write its YAML indented with the code,
 * and `expectRuleAtMarkers` runs one rule over patched facts.
 */
import { expect } from "vitest";
import type { Code } from "../../../../diagnostics/codes.js";
import type { Report, Rule } from "../../../../compiler/check/context.js";
import type { Facts } from "../../../../compiler/check/facts.js";
import { spanFor } from "../../../../grammar/source-tree.js";
import { validateMarked } from "../../../helpers/validate.js";

/** Removes the common leading indentation and the first and last blank lines. */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, "").replace(/\n[ \t]*$/, "").split("\n");
  const indents = lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join("\n") + "\n";
}

/** DiT-XL/2 at 256x256 with IDDPM over `steps` steps (its VAEs: sd-vae-ft-ema, sd-vae-ft-mse), then `rest`. */
export function ditPipeline(rest: string, steps = 250): string {
  return (
    dedent(`
    version: 1
    name: t
    model: { family: dit, variant: DiT-XL/2, checkpoint: random }
    conditioning: { labels: [207] }
    image: { height: 256, width: 256 }
    scheduler: { kind: iddpm, steps: ${steps} }
  `) + rest
  );
}

/** Open-Sora 1.2's STDiT3-XL/2 at 51x240x424 (its only VAE, opensora-vae-v1.2, has no linear preview), then `rest`. */
export function stdit3Pipeline(rest: string): string {
  return (
    dedent(`
    version: 1
    name: t
    model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
    conditioning: { prompts: [a cat] }
    video: { frames: 51, height: 240, width: 424 }
    scheduler: { kind: rflow, steps: 30 }
  `) + rest
  );
}


/**
 * Runs one rule directly over a marked pipeline whose facts are patched (for a family property no registered
 * family has yet), and asserts that exactly the marked ranges carry `code`. Returns those reports.
 */
export function expectRuleAtMarkers(rule: Rule, source: string, patch: (facts: Facts) => Facts, code: Code): Report[] {
  const result = validateMarked(source);
  expect(result.spec, JSON.stringify(result.diagnostics)).toBeDefined();
  const reports: Report[] = [];
  rule.check({
    spec: result.spec!,
    tree: result.tree!,
    facts: patch(result.facts!),
    options: { mode: "validate", baseDir: "/nonexistent", fileExists: () => false },
    report: (r) => reports.push(r),
  });
  const found = reports.filter((r) => r.code === code);
  const spans = found.map((r) => {
    const range = r.range ?? spanFor(result.tree!, r.at, r.part);
    return [range.start, range.end];
  });
  expect(spans, JSON.stringify(reports)).toEqual(result.ranges.map((r) => [r.start, r.end]));
  return found;
}
