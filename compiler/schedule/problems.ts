/**
 * Scheduler settings the step tables cannot honour, each with the reason, for the checker to report as a
 * diagnostic before lowering (lowerSchedule refuses them). Each mirrors a point where the reference sampler itself
 * fails or where opendit deliberately does not follow it:
 * - IDDPM's respacing cannot keep more steps than the training schedule has, and with one step its clipped
 *   posterior log-variance table is empty (IDDPM fails indexing it).
 * - diffusers' DDIMScheduler refuses more inference steps than training steps.
 * - IDDPM's linear betas are scaled by 1000/T; at T ≤ 20 the last beta reaches 1 and ᾱ becomes 0.
 * - DPM-Solver multistep needs steps ≥ order (the reference asserts it).
 * - DPM-Solver order 3: the native op holds one previous data prediction (2M). The reference's 3M multistep
 *   update also weights its second divided difference D2 = (D1_0 − D1_1)/(r0 + r1) ≈ h²·x''/2 by −α·φ3, half
 *   the −α·h²·φ3·x'' term of the exponential-integrator expansion, so "exact to the reference" and "third order
 *   per the paper" disagree; no model in models.md samples with it.
 * - DPM-Solver's `numerical_clip_alpha` truncates the schedule where λ < −5.1 (linear betas with T ≤ 457), and
 *   with it the time grid and the model-time scale; opendit does not reproduce the truncation.
 */
import { DiscreteVpSchedule, DPM_LAMBDA_CLIP } from "./dpm-solver.js";
import type { ScheduleInput } from "./timesteps.js";

export interface ScheduleProblem {
  /** The scheduler field the problem is about. */
  readonly field: "steps" | "order" | "train_steps";
  readonly message: string;
}

/** Smallest T whose IDDPM-scaled linear betas all stay below 1 (β_end = 0.02·1000/T). */
export const MIN_SCALED_TRAIN_STEPS = 21;

function usesIddpmBetas(s: ScheduleInput): boolean {
  return s.kind === "iddpm" || s.kind === "dpm-solver" || (s.kind === "ddim" && s.spacing === "iddpm");
}

export function scheduleProblems(s: ScheduleInput): ScheduleProblem[] {
  const train = s.train_steps ?? 1000;
  const out: ScheduleProblem[] = [];
  const respaced = s.kind === "iddpm" || (s.kind === "ddim" && s.spacing === "iddpm");
  if (respaced && s.steps > train) {
    out.push({ field: "steps", message: `IDDPM respacing cannot keep ${s.steps} steps of a ${train}-step training schedule.` });
  }
  if (s.kind === "iddpm" && s.steps < 2) {
    out.push({ field: "steps", message: "IDDPM ancestral sampling needs at least 2 steps: with one, its clipped posterior log-variance table is empty." });
  }
  if (s.kind === "ddim" && !respaced && s.steps > train) {
    out.push({ field: "steps", message: `diffusers' DDIM cannot take ${s.steps} steps over ${train} training timesteps.` });
  }
  if (usesIddpmBetas(s) && train < MIN_SCALED_TRAIN_STEPS) {
    out.push({
      field: "train_steps",
      message: `IDDPM's linear betas are scaled by 1000/T; with T = ${train} they reach 1 and the schedule degenerates (T must be at least ${MIN_SCALED_TRAIN_STEPS}).`,
    });
  }
  if (s.kind === "dpm-solver") {
    const order = s.order ?? 2;
    if (order === 3) {
      out.push({
        field: "order",
        message: "DPM-Solver++ order 3 is not supported: the native update holds one previous prediction (2M), and the reference 3M update's second-difference weight departs from the third-order formula.",
      });
    } else if (s.steps < order) {
      out.push({ field: "steps", message: `DPM-Solver multistep of order ${order} needs at least ${order} steps.` });
    }
    if (train >= MIN_SCALED_TRAIN_STEPS && new DiscreteVpSchedule(train).lambdaAtEnd() < DPM_LAMBDA_CLIP) {
      out.push({
        field: "train_steps",
        message: `With T = ${train} the schedule's log-SNR λ falls below ${DPM_LAMBDA_CLIP}, where DPM-Solver truncates the schedule; opendit does not reproduce that truncation.`,
      });
    }
  }
  return out;
}
