/**
 * The reference interpreter: runs a lowered Plan on one simulated rank in float64 (README.md in this folder).
 *
 *   memory ← every plan buffer, zeroed (memory.ts), and the weights
 *   inputs ← noise, text, masks, labels (inputs.ts), once
 *   setup program, once
 *   for each step: timestep input ← the step's; the step program, less the ops the step's pattern skips
 *   outputs ← plan.outputs
 *
 * Which ops a step runs is decided as the cost model decides it (compiler/plan/pattern-runs.ts `runsIn`): an op of
 * a reused attention kind (`pab`) or of a reused block MLP (`mlp`) is skipped and its cache keeps the last
 * computed value; an op of another PipeFusion `phase` than the step pattern's is skipped, and so is a latent-ring
 * send or receive on a step that hands no latent on. An op with a `stage` runs only on the ranks of that
 * pipeline stage: with one rank, stage 0 (the rank's `pipefusion` coordinate). The checks, the step loop's pieces
 * and the outputs are exported for the all-ranks simulation (ranks.ts).
 */
import { runsIn } from "../../compiler/plan/pattern-runs.js";
import { opBuffers } from "../../compiler/plan/op-buffers.js";
import type { Op } from "../../compiler/plan/ops.js";
import type { Plan, PlanPattern } from "../../compiler/plan/types.js";
import { describeOp, runOp } from "./dispatch.js";
import { fillInputs, fillTimestep, type RunInputs } from "./inputs.js";
import { allocate, elementCount, type Memory, type RankCoordinates, type Values } from "./memory.js";

export type ProgramName = "setup" | "step";

export interface RunOptions {
  /** How many steps to run, from the first (default: all of the plan's). */
  readonly steps?: number;
  /** Called after every op that ran (setup ops with program "setup", step ops with "step"; mem.step is the step). */
  readonly afterOp?: (op: Op, mem: Memory, program: ProgramName) => void;
  /** Which rank of the plan's mesh to simulate (default 0): its coordinates pick cfg rows, sample shards, stages. */
  readonly rank?: number;
}

export interface RunResult {
  /** Copies of the plan's outputs, by output name (Plan.outputs `name`). */
  readonly outputs: ReadonlyMap<string, Values>;
  /** The rank's memory after the run, to inspect any buffer. */
  readonly memory: Memory;
}

/** The coordinates of a rank of the plan's mesh. */
export function rankCoordinates(plan: Plan, rank: number): RankCoordinates {
  const entry = plan.mesh.ranks[rank];
  if (!entry) throw new Error(`the plan's mesh has ${plan.mesh.world} ranks, not a rank ${rank}`);
  return { coords: { ...entry.coords } };
}

/** Every weight the plan reads is given, with its element count. */
export function checkWeights(plan: Plan, weights: ReadonlyMap<string, Float64Array>): void {
  const problems: string[] = [];
  for (const w of plan.weights) {
    const given = weights.get(w.name);
    const n = elementCount(w);
    if (!given) problems.push(`${w.name} is missing`);
    else if (given.length !== n) problems.push(`${w.name} holds ${given.length} values, not ${n} ([${w.shape.join(", ")}])`);
  }
  if (problems.length > 0) throw new Error(`the weights do not fit the plan: ${problems.join("; ")}`);
}

/** Every buffer an op reads or writes is a plan buffer or a weight, so a defect names its op before anything runs. */
export function checkNames(plan: Plan): void {
  const known = new Set([...plan.buffers.map((b) => b.name), ...plan.weights.map((w) => w.name)]);
  for (const [program, ops] of [["setup", plan.program.setup], ["step", plan.program.step]] as const) {
    for (const op of ops) {
      const { reads, writes } = opBuffers(op);
      for (const name of [...reads, ...writes]) {
        if (!known.has(name)) throw new Error(`${program} ${describeOp(op)} names ${name}, which is neither a plan buffer nor a weight`);
      }
    }
  }
}

/** Whether the rank runs the op on a step of this pattern (setup ops: pattern null). */
export function opRuns(op: Op, pattern: PlanPattern | null, rank: RankCoordinates): boolean {
  if (op.stage !== undefined && op.stage !== (rank.coords["pipefusion"] ?? 0)) return false;
  return pattern === null || runsIn(op, pattern);
}

/** Runs `run` for one op, prefixing an error's message with the program, the op and (step ops) the step. */
export function inOpContext(op: Op, program: ProgramName, step: number, run: () => void): void {
  try {
    run();
  } catch (error) {
    if (error instanceof Error && !error.message.includes(`op ${op.id} (`)) {
      error.message = `${program} ${describeOp(op)}${program === "step" ? ` on step ${step}` : ""}: ${error.message}`;
    }
    throw error;
  }
}

function runProgram(ops: readonly Op[], mem: Memory, pattern: PlanPattern | null, program: ProgramName, options: RunOptions): void {
  for (const op of ops) {
    if (!opRuns(op, pattern, mem.rank)) continue;
    inOpContext(op, program, mem.step, () => runOp(op, mem));
    options.afterOp?.(op, mem, program);
  }
}

/** How many steps a run of `steps` (default all) covers, checked against the plan. */
export function stepCount(plan: Plan, steps: number | undefined): number {
  const count = steps ?? plan.steps.length;
  if (!Number.isInteger(count) || count < 0 || count > plan.steps.length) {
    throw new Error(`cannot run ${count} steps of a plan of ${plan.steps.length}`);
  }
  return count;
}

/** The pattern step `i` runs. */
export function stepPattern(plan: Plan, i: number): PlanPattern {
  const step = plan.steps[i];
  if (!step) throw new Error(`the plan has no step ${i}`);
  const pattern = plan.patterns[step.pattern];
  if (!pattern) throw new Error(`step ${i} runs pattern ${step.pattern}, which the plan does not have`);
  return pattern;
}

/** Copies of the plan's outputs the rank holds (a PipeFusion output only on the ranks of its stage), by name. */
export function rankOutputs(mem: Memory): Map<string, Values> {
  const outputs = new Map<string, Values>();
  for (const out of mem.plan.outputs) {
    if (out.stage !== undefined && out.stage !== (mem.rank.coords["pipefusion"] ?? 0)) continue;
    const values = mem.buffers.get(out.buffer);
    if (!values) throw new Error(`output ${out.name} names buffer ${out.buffer}, which the plan does not have`);
    outputs.set(out.name, values.slice());
  }
  return outputs;
}

/**
 * Runs `plan` on one simulated rank: `weights` by checkpoint name (float64 copies of the checkpoint's values),
 * `inputs` the run's values (inputs.ts). Returns the plan's outputs after the last step run.
 */
export function runPlan(plan: Plan, weights: ReadonlyMap<string, Float64Array>, inputs: RunInputs, options: RunOptions = {}): RunResult {
  const steps = stepCount(plan, options.steps);
  checkWeights(plan, weights);
  checkNames(plan);
  const mem = allocate(plan, weights, rankCoordinates(plan, options.rank ?? 0));
  fillInputs(mem, inputs);
  mem.step = 0;
  runProgram(plan.program.setup, mem, null, "setup", options);
  for (let i = 0; i < steps; i++) {
    const pattern = stepPattern(plan, i);
    mem.step = i;
    fillTimestep(mem, i, inputs);
    runProgram(plan.program.step, mem, pattern, "step", options);
  }
  return { outputs: rankOutputs(mem), memory: mem };
}
