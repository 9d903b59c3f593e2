/**
 * Invariants of the step tables that hold for every valid scheduler, over generated settings: the table's
 * timesteps are timesteps() (the checker and the plan agree), steps chain into each other, noise is added where
 * the formulas add it, DPM-Solver's orders follow the reference's warm-up and lower_order_final, flow steps
 * integrate exactly to 0, and every table is plain JSON (no NaN, Infinity or undefined).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lowerSchedule } from "../../../compiler/schedule/lower.js";
import { scheduleProblems } from "../../../compiler/schedule/problems.js";
import type { DdimTable, DdpmTable, DpmTable, FlowTable, StepTable } from "../../../compiler/schedule/step-table.js";
import { timestepMax, timesteps, type ScheduleInput } from "../../../compiler/schedule/timesteps.js";

const VIDEO = { frames: 51, height: 240, width: 424 };

function as<S extends StepTable["solver"]>(t: StepTable, solver: S): Extract<StepTable, { solver: S }> {
  if (t.solver !== solver) throw new Error(`expected a ${solver} table, got ${t.solver}`);
  return t as Extract<StepTable, { solver: S }>;
}

const anyScheduler: fc.Arbitrary<ScheduleInput> = fc.oneof(
  fc.record({ kind: fc.constant("iddpm" as const), steps: fc.integer({ min: 2, max: 400 }) }),
  fc.record({
    kind: fc.constant("ddim" as const),
    steps: fc.integer({ min: 1, max: 400 }),
    eta: fc.constantFrom(0, 0.3, 1),
    spacing: fc.constantFrom("leading" as const, "trailing" as const, "linspace" as const, "iddpm" as const),
  }),
  fc.record({ kind: fc.constant("dpm-solver" as const), steps: fc.integer({ min: 2, max: 60 }), order: fc.constantFrom(1, 2) }),
  fc.record({ kind: fc.constant("rflow" as const), steps: fc.integer({ min: 1, max: 200 }), timestep_transform: fc.boolean() }),
  fc.record({ kind: fc.constant("euler" as const), steps: fc.integer({ min: 1, max: 200 }), shift: fc.constantFrom(1, 3, 7.5) }),
);

describe("every valid scheduler", () => {
  it("lowers without problems, to JSON-clean tables whose timesteps are timesteps()", () => {
    fc.assert(
      fc.property(anyScheduler, (s) => {
        expect(scheduleProblems(s)).toEqual([]);
        const table = lowerSchedule(s, VIDEO);
        expect(table.steps).toHaveLength(s.steps);
        expect(JSON.parse(JSON.stringify(table))).toEqual(table);
        expect(table.steps.map((e) => e.timestep)).toEqual(timesteps(s, VIDEO));
        table.steps.forEach((e, i) => {
          expect(e.index).toBe(i);
          expect(e.timestep).toBeGreaterThanOrEqual(0);
          expect(e.timestep).toBeLessThanOrEqual(timestepMax(s) + 1e-9);
        });
        // Sampling runs from noise to data: timesteps strictly decrease.
        for (let i = 1; i < table.steps.length; i++) expect(table.steps[i]!.timestep).toBeLessThan(table.steps[i - 1]!.timestep);
      }),
      { numRuns: 300 },
    );
  });
});

describe("IDDPM (ddpm op)", () => {
  const t: DdpmTable = as(lowerSchedule({ kind: "iddpm", steps: 100 }, VIDEO), "ddpm");

  it("adds noise on every step but the last", () => {
    expect(t.steps.map((e) => e.add_noise)).toEqual([...Array<boolean>(99).fill(true), false]);
  });

  it("clips the log posterior variance of the last step to that of the step before", () => {
    expect(t.steps[99]!.posterior_log_variance_clipped).toBe(t.steps[98]!.posterior_log_variance_clipped);
  });

  it("the learned range runs from the posterior variance up to β'", () => {
    for (const e of t.steps.slice(0, -1)) expect(e.posterior_log_variance_clipped).toBeLessThan(e.log_beta);
  });
});

describe("DDIM (ddim op)", () => {
  it("η = 0 is deterministic; η > 0 adds noise on all but the last step", () => {
    for (const spacing of ["leading", "iddpm"] as const) {
      const det: DdimTable = as(lowerSchedule({ kind: "ddim", steps: 50, spacing }, VIDEO), "ddim");
      expect(det.steps.every((e) => e.sigma === 0 && !e.add_noise)).toBe(true);
      const noisy: DdimTable = as(lowerSchedule({ kind: "ddim", steps: 50, spacing, eta: 0.5 }, VIDEO), "ddim");
      expect(noisy.steps.map((e) => e.add_noise)).toEqual([...Array<boolean>(49).fill(true), false]);
    }
  });

  it("each step lands on the next step's ᾱ, and on ᾱ = 1 after the last", () => {
    for (const spacing of ["leading", "iddpm"] as const) {
      const t: DdimTable = as(lowerSchedule({ kind: "ddim", steps: 50, spacing, eta: 1 }, VIDEO), "ddim");
      for (let i = 0; i + 1 < t.steps.length; i++) expect(t.steps[i]!.alpha_cumprod_prev).toBe(t.steps[i + 1]!.alpha_cumprod);
      expect(t.steps[49]!.alpha_cumprod_prev).toBe(1);
      // The update keeps the marginal variance: ᾱ_prev + direction² + σ² = 1.
      for (const e of t.steps) expect(e.alpha_cumprod_prev + e.direction_coef ** 2 + e.sigma ** 2).toBeCloseTo(1, 12);
    }
  });

  it("diffusers moves to t − T//N whatever the spacing", () => {
    const t: DdimTable = as(lowerSchedule({ kind: "ddim", steps: 7, spacing: "linspace" }, VIDEO), "ddim");
    // Timesteps 999, 832, …: the step from 832 lands on 832 − 142 = 690, not on the next timestep 666.
    const at690 = lowerSchedule({ kind: "ddim", steps: 1000, spacing: "leading" }, VIDEO).steps.find((e) => e.timestep === 690);
    expect(t.steps[1]!.timestep).toBe(832);
    expect(t.steps[1]!.alpha_cumprod_prev).toBe((at690 as { alpha_cumprod: number }).alpha_cumprod);
  });
});

describe("DPM-Solver++ (dpmpp2m op)", () => {
  const orders = (steps: number, order?: number): number[] =>
    (as(lowerSchedule({ kind: "dpm-solver", steps, ...(order ? { order } : {}) }, VIDEO), "dpmpp2m") as DpmTable).steps.map((e) => e.order);

  it("first order on the first step, then second order", () => {
    expect(orders(20)).toEqual([1, ...Array<number>(19).fill(2)]);
    expect(orders(10)).toEqual([1, ...Array<number>(9).fill(2)]);
  });

  it("lower_order_final only below 10 steps", () => {
    expect(orders(9)).toEqual([1, 2, 2, 2, 2, 2, 2, 2, 1]);
    expect(orders(5)).toEqual([1, 2, 2, 2, 1]);
    expect(orders(2)).toEqual([1, 1]);
  });

  it("order 1 is first order throughout, with no D1 term", () => {
    const t: DpmTable = as(lowerSchedule({ kind: "dpm-solver", steps: 8, order: 1 }, VIDEO), "dpmpp2m");
    expect(t.steps.every((e) => e.order === 1 && e.d1_coef === 0 && e.r0 === null && e.h_prev === null)).toBe(true);
  });

  it("steps chain: t, λ and h of one step are the next step's previous ones", () => {
    const t: DpmTable = as(lowerSchedule({ kind: "dpm-solver", steps: 20 }, VIDEO), "dpmpp2m");
    for (let i = 1; i < 20; i++) {
      const [prev, cur] = [t.steps[i - 1]!, t.steps[i]!];
      expect(cur.t).toBe(prev.t_next);
      expect(cur.lambda).toBe(prev.lambda_next);
      expect(cur.h_prev).toBe(prev.h);
      expect(cur.r0).toBe(prev.h / cur.h);
    }
    for (const e of t.steps) {
      expect(e.alpha ** 2 + e.sigma ** 2).toBeCloseTo(1, 14);
      expect(e.lambda).toBeCloseTo(Math.log(e.alpha / e.sigma), 12);
      expect(e.timestep).toBeCloseTo((e.t - 0.001) * 1000, 9);
    }
  });
});

describe("flow Euler (flow-euler op)", () => {
  it("steps chain and their dt sum to the first σ: the last step goes to 0", () => {
    for (const s of [{ kind: "rflow", steps: 30 }, { kind: "euler", steps: 28, shift: 3 }] as const) {
      const t: FlowTable = as(lowerSchedule(s, VIDEO), "flow-euler");
      for (let i = 0; i + 1 < t.steps.length; i++) expect(t.steps[i]!.sigma_next).toBe(t.steps[i + 1]!.sigma);
      expect(t.steps.at(-1)!.sigma_next).toBe(0);
      expect(t.steps.every((e) => e.dt > 0)).toBe(true);
      expect(t.steps.reduce((acc, e) => acc + e.dt, 0)).toBeCloseTo(t.steps[0]!.sigma, 12);
      for (const e of t.steps) expect(e.timestep).toBeCloseTo(1000 * e.sigma, 9);
    }
  });
});
