/**
 * All ranks of a plan in one process: the reference interpreter (interpret.ts) run on every rank of the plan's
 * mesh at once, in float64, with the collectives carried out on the ranks' own buffers (README.md, "All ranks").
 *
 *   per rank: memory (its coordinates from plan.mesh.ranks[r].coords), weights, inputs (its cfg rows and
 *             sample shard)
 *   setup program, then each step's program: all ranks advance op by op in lockstep
 *   per rank: plan.outputs
 *
 * Without PipeFusion every rank runs the same op sequence (a step's pattern skips the same ops everywhere), so
 * op i is a collective on every rank at the same time: it runs once per communicator group of its axis
 * (plan.mesh.groups, each group in coordinate order) on the members' memories (collectives/): `all_to_all`,
 * `all_gather`, and `self_attention` with `ring`. Every other op runs on each rank alone (dispatch.ts).
 *
 * PipeFusion plans (ranks in different pipeline stages run different ops, `send`/`recv` pair up across steps,
 * self-attention goes through a K/V buffer that outlives the step) are refused before anything runs: pipeline.ts
 * runs them, with the pieces exported here (the memories, the collectives and their groups).
 */
import type { GroupAxis, RankGroup } from "../../compiler/lower/mesh.js";
import type { Op } from "../../compiler/plan/ops.js";
import type { Plan, PlanPattern } from "../../compiler/plan/types.js";
import { runAllGather } from "./collectives/all-gather.js";
import { runAllToAll } from "./collectives/all-to-all.js";
import type { Collective } from "./collectives/collective.js";
import { runRingAttention } from "./collectives/ring-attention.js";
import { describeOp, runOp } from "./dispatch.js";
import { fillInputs, fillTimestep, type RunInputs } from "./inputs.js";
import {
  checkNames,
  checkWeights,
  inOpContext,
  opRuns,
  rankCoordinates,
  rankOutputs,
  stepCount,
  stepPattern,
  type ProgramName,
} from "./interpret.js";
import { allocate, type Memory, type Values } from "./memory.js";

export interface RanksOptions {
  /** How many steps to run, from the first (default: all of the plan's). */
  readonly steps?: number;
  /** Called after every op has run on every rank, with the ranks' memories by global rank. */
  readonly afterOp?: (op: Op, memories: readonly Memory[], program: ProgramName) => void;
}

export interface RanksResult {
  /** Per global rank: copies of the plan's outputs, by output name. */
  readonly outputs: readonly ReadonlyMap<string, Values>[];
  /** Per global rank: its memory after the run. */
  readonly memories: readonly Memory[];
}

/** A collective op: its group axis and its runner on one group. */
export interface GroupRun {
  readonly axis: GroupAxis;
  readonly run: Collective;
}

/** The collective an op is, if it is one. */
export function collectiveOf(op: Op): GroupRun | undefined {
  switch (op.op) {
    case "all_to_all":
      return { axis: op.axis, run: runAllToAll as Collective };
    case "all_gather":
      return { axis: op.axis, run: runAllGather as Collective };
    case "self_attention":
      return op.ring === undefined ? undefined : { axis: op.ring, run: runRingAttention as Collective };
    default:
      return undefined;
  }
}

/** The first op that makes the plan a PipeFusion plan, which the lockstep simulation does not run. */
export function pipeFusionOp(plan: Plan): Op | undefined {
  for (const op of [...plan.program.setup, ...plan.program.step]) {
    if (op.stage !== undefined || op.phase !== undefined || op.op === "send" || op.op === "recv") return op;
    if (op.op === "self_attention" && op.kvCache !== undefined) return op;
  }
  return undefined;
}

/** The communicator groups of an axis; an axis the mesh keeps no groups for is a plan defect. */
export function groupsOf(plan: Plan, op: Op, axis: GroupAxis): readonly RankGroup[] {
  const groups = plan.mesh.groups[axis];
  if (!groups) throw new Error(`${describeOp(op)} runs over the ${axis} group, but the plan's mesh has no ${axis} groups`);
  return groups;
}

function runLockstep(ops: readonly Op[], mems: readonly Memory[], pattern: PlanPattern | null, program: ProgramName, options: RanksOptions): void {
  const plan = mems[0]!.plan;
  for (const op of ops) {
    const running = mems.filter((m) => opRuns(op, pattern, m.rank)).length;
    if (running === 0) continue;
    const step = mems[0]!.step;
    inOpContext(op, program, step, () => {
      if (running !== mems.length) throw new Error(`runs on ${running} of the ${mems.length} ranks; lockstep needs all or none`);
      const collective = collectiveOf(op);
      if (!collective) {
        for (const mem of mems) runOp(op, mem);
        return;
      }
      for (const group of groupsOf(plan, op, collective.axis)) {
        collective.run(
          op,
          group.map((r) => {
            const mem = mems[r];
            if (!mem) throw new Error(`the ${collective.axis} group [${group.join(", ")}] names rank ${r} of ${mems.length}`);
            return mem;
          }),
        );
      }
    });
    options.afterOp?.(op, mems, program);
  }
}

/**
 * Every rank's memory, checked against the weights and the plan's names, with its inputs filled and step 0 set:
 * the start of an all-ranks run, lockstep or pipelined (pipeline.ts).
 */
export function rankMemories(plan: Plan, weights: ReadonlyMap<string, Float64Array>, inputs: RunInputs): Memory[] {
  checkWeights(plan, weights);
  checkNames(plan);
  const mems = plan.mesh.ranks.map((r) => allocate(plan, weights, rankCoordinates(plan, r.rank)));
  for (const mem of mems) {
    fillInputs(mem, inputs);
    mem.step = 0;
  }
  return mems;
}

/**
 * Runs `plan` on every rank of its mesh: `weights` by checkpoint name (shared by all ranks), `inputs` the whole
 * run's values (each rank fills its part, inputs.ts). Returns every rank's outputs after the last step run.
 */
export function runRanks(plan: Plan, weights: ReadonlyMap<string, Float64Array>, inputs: RunInputs, options: RanksOptions = {}): RanksResult {
  const steps = stepCount(plan, options.steps);
  const pipelined = pipeFusionOp(plan);
  if (pipelined) {
    throw new Error(
      `plan ${plan.name} is a PipeFusion plan (${describeOp(pipelined)}); the all-ranks reference runs ranks in lockstep and does not run PipeFusion's stages, send/recv or K/V buffers: pipeline.ts runPipeline runs it`,
    );
  }
  const mems = rankMemories(plan, weights, inputs);
  runLockstep(plan.program.setup, mems, null, "setup", options);
  for (let i = 0; i < steps; i++) {
    const pattern = stepPattern(plan, i);
    for (const mem of mems) {
      mem.step = i;
      fillTimestep(mem, i, inputs);
    }
    runLockstep(plan.program.step, mems, pattern, "step", options);
  }
  return { outputs: mems.map(rankOutputs), memories: mems };
}
