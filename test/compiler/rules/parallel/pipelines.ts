/**
 * Pipeline texts for the parallel rule tests: a valid head for each family the tests use, to which a test
 * appends its own `parallel` section (with `<|...|>` markers around the span a diagnostic must underline).
 */
import { expect } from "vitest";
import type { Code } from "../../../../diagnostics/codes.js";
import type { Report, Rule } from "../../../../compiler/check/context.js";
import type { Facts } from "../../../../compiler/check/facts.js";
import { spanFor } from "../../../../grammar/source-tree.js";
import { validateMarked } from "../../../helpers/validate.js";

export interface HeadOptions {
  readonly frames?: number;
  readonly height?: number;
  readonly width?: number;
  readonly guidance?: number;
  readonly steps?: number;
  /** The whole `conditioning` line's value, such as `{ prompts: [a, b] }`. */
  readonly conditioning?: string;
}

/** Open-Sora 1.0 STDiT-XL/2 (16 heads, 28 joint blocks), 16 x 512 x 512 by default: 16 frames of 32 x 32 tokens. */
export function stdit(parallel: string, o: HeadOptions = {}): string {
  return (
    "version: 1\nname: t\nmodel: { family: stdit, variant: STDiT-XL/2, checkpoint: random }\n" +
    `conditioning: ${o.conditioning ?? "{ prompts: [a cat playing the piano] }"}\n` +
    `video: { frames: ${o.frames ?? 16}, height: ${o.height ?? 512}, width: ${o.width ?? 512} }\n` +
    `scheduler: { kind: iddpm, steps: ${o.steps ?? 100}, guidance: ${o.guidance ?? 7.0} }\n` +
    parallel
  );
}

/** DiT-XL/2 (16 heads, 28 blocks), 256 x 256 by default: 16 x 16 tokens. */
export function dit(parallel: string, o: HeadOptions = {}): string {
  return (
    "version: 1\nname: t\nmodel: { family: dit, variant: DiT-XL/2, checkpoint: random }\n" +
    `conditioning: ${o.conditioning ?? "{ labels: [207, 360] }"}\n` +
    `image: { height: ${o.height ?? 256}, width: ${o.width ?? 256} }\n` +
    `scheduler: { kind: iddpm, steps: ${o.steps ?? 250}, guidance: ${o.guidance ?? 4.0} }\n` +
    parallel
  );
}

/** Original Latte-XL/2 (class or unconditional; 14 spatial + 14 temporal blocks), 16 x 256 x 256. */
export function latte(parallel: string, o: HeadOptions = {}): string {
  return (
    "version: 1\nname: t\nmodel: { family: latte, variant: Latte-XL/2, checkpoint: random }\n" +
    (o.conditioning !== undefined ? `conditioning: ${o.conditioning}\n` : "") +
    `video: { frames: ${o.frames ?? 16}, height: ${o.height ?? 256}, width: ${o.width ?? 256} }\n` +
    `scheduler: { kind: iddpm, steps: ${o.steps ?? 250}, guidance: ${o.guidance ?? 7.0} }\n` +
    parallel
  );
}

/** A `parallel` section in block style; `layout` is written as given (markers included). */
export function parallel(world: number | string, layout?: string, extra = ""): string {
  return `parallel:\n  world: ${world}\n${layout !== undefined ? `  layout: ${layout}\n` : ""}${extra}`;
}

/** Validates a marked pipeline and asserts it got through the schema (so the rules ran). */
export function checked(source: string): ReturnType<typeof validateMarked> {
  const result = validateMarked(source);
  expect(result.spec, JSON.stringify(result.diagnostics.map((d) => [d.code, d.message]))).toBeDefined();
  return result;
}

/**
 * Runs one rule directly over a marked pipeline whose facts are patched (for a family property no registered
 * family has), and asserts that exactly the marked ranges carry `code`. Returns those reports.
 */
export function expectRuleAtMarkers(rule: Rule, source: string, patch: (facts: Facts) => Facts, code: Code): Report[] {
  const result = checked(source);
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
  expect(spans).toEqual(result.ranges.map((r) => [r.start, r.end]));
  return found;
}
