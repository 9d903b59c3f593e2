/**
 * Settings the step tables refuse, each reported with the field it concerns, and lowerSchedule throwing the same
 * problems for a scheduler the checker should have stopped.
 */
import { describe, expect, it } from "vitest";
import { lowerSchedule, ScheduleLoweringError } from "../../../compiler/schedule/lower.js";
import { MIN_SCALED_TRAIN_STEPS, scheduleProblems } from "../../../compiler/schedule/problems.js";
import type { ScheduleInput } from "../../../compiler/schedule/timesteps.js";

const IMAGE = { frames: 1, height: 256, width: 256 };

function fields(s: ScheduleInput): string[] {
  return scheduleProblems(s).map((p) => p.field);
}

describe("scheduleProblems", () => {
  it("the reference defaults of every family have none", () => {
    for (const s of [
      { kind: "iddpm", steps: 250 },
      { kind: "iddpm", steps: 100 },
      { kind: "dpm-solver", steps: 20 },
      { kind: "ddim", steps: 50 },
      { kind: "rflow", steps: 30 },
      { kind: "euler", steps: 28, shift: 3 },
    ] as const) {
      expect(scheduleProblems(s), s.kind).toEqual([]);
    }
  });

  it("DPM-Solver++ order 3 is refused with its reason", () => {
    const [problem] = scheduleProblems({ kind: "dpm-solver", steps: 20, order: 3 });
    expect(problem?.field).toBe("order");
    expect(problem?.message).toMatch(/order 3 is not supported/);
  });

  it("DPM-Solver multistep needs steps ≥ order, as the reference asserts", () => {
    expect(fields({ kind: "dpm-solver", steps: 1 })).toEqual(["steps"]);
    expect(fields({ kind: "dpm-solver", steps: 1, order: 1 })).toEqual([]);
    expect(fields({ kind: "dpm-solver", steps: 2 })).toEqual([]);
  });

  it("IDDPM needs 2 to T steps; respaced DDIM up to T", () => {
    expect(fields({ kind: "iddpm", steps: 1 })).toEqual(["steps"]);
    expect(fields({ kind: "iddpm", steps: 1000 })).toEqual([]);
    expect(fields({ kind: "iddpm", steps: 501, train_steps: 500 })).toEqual(["steps"]);
    expect(fields({ kind: "ddim", steps: 1, spacing: "iddpm" })).toEqual([]);
    expect(fields({ kind: "ddim", steps: 1001, spacing: "iddpm" })).toEqual(["steps"]);
  });

  it("diffusers DDIM refuses more steps than training timesteps", () => {
    expect(fields({ kind: "ddim", steps: 1000 })).toEqual([]);
    expect(fields({ kind: "ddim", steps: 101, train_steps: 100, spacing: "trailing" })).toEqual(["steps"]);
  });

  it("IDDPM-scaled betas need T ≥ 21; diffusers' unscaled betas do not", () => {
    expect(fields({ kind: "iddpm", steps: 10, train_steps: MIN_SCALED_TRAIN_STEPS - 1 })).toEqual(["train_steps"]);
    expect(fields({ kind: "iddpm", steps: 10, train_steps: MIN_SCALED_TRAIN_STEPS })).toEqual([]);
    expect(fields({ kind: "ddim", steps: 10, train_steps: 20, spacing: "iddpm" })).toEqual(["train_steps"]);
    expect(fields({ kind: "ddim", steps: 10, train_steps: 20 })).toEqual([]);
  });

  it("DPM-Solver refuses training schedules whose λ reaches the reference's −5.1 clip", () => {
    expect(fields({ kind: "dpm-solver", steps: 20, train_steps: 300 })).toEqual(["train_steps"]);
    expect(fields({ kind: "dpm-solver", steps: 20, train_steps: 2000 })).toEqual([]);
    // The same T is fine for IDDPM, which has no such clip.
    expect(fields({ kind: "iddpm", steps: 20, train_steps: 300 })).toEqual([]);
  });
});

describe("lowerSchedule", () => {
  it("throws the problems of a scheduler the checker should have refused", () => {
    const s = { kind: "dpm-solver", steps: 20, order: 3 } as const;
    expect(() => lowerSchedule(s, IMAGE)).toThrow(ScheduleLoweringError);
    try {
      lowerSchedule(s, IMAGE);
    } catch (e) {
      expect((e as ScheduleLoweringError).problems).toEqual(scheduleProblems(s));
    }
  });
});
