/**
 * The step tables against the independent numpy reference (test/reference/schedulers.py, one fixture per case
 * in test/fixtures/schedulers/): same solver, same number of steps, and every coefficient of every step within
 * a relative error of 1e-12 (integers, flags and nulls exactly).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { lowerSchedule } from "../../../compiler/schedule/lower.js";
import type { StepEntry } from "../../../compiler/schedule/step-table.js";
import type { ScheduleInput, TimestepContext } from "../../../compiler/schedule/timesteps.js";

interface Fixture {
  readonly case: string;
  readonly scheduler: ScheduleInput;
  readonly size: TimestepContext;
  readonly solver: string;
  readonly trainSteps: number;
  readonly columns: Record<string, readonly (number | boolean | null)[]>;
}

const dir = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/schedulers");
const fixtures: Fixture[] = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Fixture);

const TOLERANCE = 1e-12;

function relativeError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.max(Math.abs(actual), Math.abs(expected));
}

describe("step tables match the numpy reference", () => {
  it("covers every case the brief names", () => {
    const names = fixtures.map((f) => f.case);
    for (const expected of [
      "iddpm-100",
      "iddpm-250",
      "ddim-50-leading-eta0",
      "ddim-50-leading-eta0.5",
      "ddim-50-iddpm-eta0",
      "ddim-50-iddpm-eta0.5",
      "dpm-solver-20",
      "dpm-solver-5",
      "rflow-30-240x424x51",
      "rflow-30-720x1280x51",
      "rflow-30-image-720x1280",
      "euler-28-shift3",
    ]) {
      expect(names).toContain(expected);
    }
  });

  for (const fx of fixtures) {
    it(fx.case, () => {
      const table = lowerSchedule(fx.scheduler, fx.size);
      expect(table.solver).toBe(fx.solver);
      expect(table.kind).toBe(fx.scheduler.kind);
      expect(table.trainSteps).toBe(fx.trainSteps);
      const steps: readonly StepEntry[] = table.steps;
      const n = fx.columns["index"]!.length;
      expect(steps).toHaveLength(n);
      // The table has exactly the reference's fields: nothing missing, nothing unchecked.
      expect(Object.keys(steps[0]!).sort()).toEqual(Object.keys(fx.columns).sort());
      let worst = 0;
      for (const [field, column] of Object.entries(fx.columns)) {
        column.forEach((expected, i) => {
          const actual = (steps[i] as unknown as Record<string, number | boolean | null>)[field];
          if (typeof expected === "number" && typeof actual === "number" && !Number.isInteger(expected)) {
            const err = relativeError(actual, expected);
            worst = Math.max(worst, err);
            if (err > TOLERANCE) expect.fail(`${fx.case} step ${i} ${field}: ${actual} vs reference ${expected} (relative error ${err})`);
          } else if (typeof expected === "number" && typeof actual === "number") {
            // Integer-valued reference numbers (indices, discrete timesteps, orders) must match exactly, except
            // floats that happen to be whole (a flow timestep of 1000) which the tolerance covers.
            if (relativeError(actual, expected) > TOLERANCE) expect.fail(`${fx.case} step ${i} ${field}: ${actual} vs ${expected}`);
          } else {
            expect(actual, `${fx.case} step ${i} ${field}`).toBe(expected);
          }
        });
      }
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    });
  }
});
