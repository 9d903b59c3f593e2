import { scheduleProblems } from "../../../schedule/problems.js";
import type { Rule } from "../../context.js";

/** Hints per scheduler field: a value the step tables can always honour. */
const FIX: Readonly<Record<"steps" | "order" | "train_steps", (train: number) => string>> = {
  steps: (train) => `Use between 2 and ${train} steps.`,
  order: () => "Use `order: 2` (DPM-Solver++ 2M, the reference default).",
  train_steps: () => "Use `train_steps: 1000`, the schedule every model here was trained with.",
};

/** The scheduler's settings must be ones the step-table lowering can honour exactly (schedule/problems.ts). */
export const SchedulerSettingsRule: Rule = {
  name: "SchedulerSettingsRule",
  check(ctx) {
    const s = ctx.spec.scheduler;
    const train = s.train_steps ?? 1000;
    for (const problem of scheduleProblems(s)) {
      ctx.report({
        code: "OD3404",
        at: `/scheduler/${problem.field}`,
        message: problem.message,
        hint: FIX[problem.field](train),
      });
    }
  },
};
