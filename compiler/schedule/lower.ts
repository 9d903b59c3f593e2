/**
 * Lowering a checked scheduler to the plan's step table: the solver family of the native update op and, per
 * step, the model timestep and that op's coefficients (step-table.ts). The checker reports scheduleProblems()
 * as diagnostics first; a scheduler with problems reaching this point is a compiler defect, so it throws.
 */
import { ddimTable } from "./ddim.js";
import { dpmSolverTable } from "./dpm-solver.js";
import { flowTable } from "./flow.js";
import { iddpmTable } from "./iddpm.js";
import { scheduleProblems, type ScheduleProblem } from "./problems.js";
import type { StepTable } from "./step-table.js";
import type { ScheduleInput, TimestepContext } from "./timesteps.js";

export class ScheduleLoweringError extends Error {
  constructor(readonly problems: readonly ScheduleProblem[]) {
    super(`scheduler cannot be lowered: ${problems.map((p) => p.message).join(" ")}`);
    this.name = "ScheduleLoweringError";
  }
}

export function lowerSchedule(s: ScheduleInput, ctx: TimestepContext): StepTable {
  const problems = scheduleProblems(s);
  if (problems.length > 0) throw new ScheduleLoweringError(problems);
  switch (s.kind) {
    case "iddpm":
      return iddpmTable(s);
    case "ddim":
      return ddimTable(s);
    case "dpm-solver":
      return dpmSolverTable(s);
    case "rflow":
    case "euler":
      return flowTable(s, ctx);
  }
}
