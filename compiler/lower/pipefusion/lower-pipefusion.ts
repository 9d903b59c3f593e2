/**
 * PipeFusion (xDiT's displaced patch pipeline, xdit.md §2.2) lowered into one static program that every rank
 * of the mesh runs in part. The design, and where it departs from xDiT:
 *
 * Stages. The pipefusion degree P splits the model's blocks, in the order the family runs them, into P
 * contiguous stages (settings.ts: stage s holds positions [ceil(s·L/P), ceil((s+1)·L/P))). A rank's stage is
 * its `pipefusion` coordinate. Ops carry `stage`: only that stage's ranks run them; ops without it (the
 * per-sample conditioning: timestep, size and label embeddings) run on every stage, since each stage's
 * blocks read them and recomputing them costs less than sending them. Stage 0 also embeds the latent, the last
 * stage runs the final layer, the CFG gather, guidance and the solver. Weights and setup ops carry the stages
 * that read them, so a rank loads and computes only its stage's share; the memory plan overlaps buffers of
 * different stages.
 *
 * Bands. The token grid's rows split into M = `patches` equal bands of whole rows (every frame; under Ulysses
 * each band is split again over the sequence group, as xDiT cuts M·sp bands). The checker guarantees the rows
 * divide.
 *
 * Two phases in one step program, told apart by the ops' `phase` and the step patterns' `phase`:
 * - warm-up (the first `warmup` steps): the whole sample goes through the stages in turn; stage s > 0 receives
 *   the residual stream from s - 1, runs its blocks and sends it on. Every spatial self-attention writes its
 *   fresh K/V for all tokens into the block's K/V buffer (a `cache` buffer [sequences·S, 2·D], k then v).
 * - pipelined (the rest): per band m, in order, stage 0 embeds the band's rows, every stage runs its blocks on
 *   the band, whose self-attention writes the band's fresh K/V into its rows of the block's K/V buffer and
 *   attends the band's queries to the WHOLE buffer (rows of later bands still hold the previous step's K/V:
 *   the stale K/V PipeFusion trades for overlap), and the last stage unpatchifies the band into the latent
 *   rows it covers, runs guidance and the solver on those rows only.
 * Both phases come from the family's own lowering, run once per pass with a narrowed context (run-pass.ts,
 * pass.ts), so no family has PipeFusion code; the passes' buffers are merged under prefixed names
 * (merge-passes.ts) and the passes' ops split into stages (stages.ts).
 *
 * Transfers (transfers.ts), all point-to-point over the pipefusion axis with static shapes from the buffers'
 * declarations: activations between neighbouring stages, and the pipeline ring, on which the last stage sends
 * each band's updated latent rows to stage 0 after the solver (in both phases, band by band, so the transfer
 * from the last warm-up step to the first pipelined one matches). Stage 0 receives a band just before it
 * embeds it. Receives are pre-posted (ops.ts, `recv`), sends asynchronous, so a stage already embeds band m of
 * step t + 1 while the last stage still works on later bands of step t: the only bubble is the pipeline's fill
 * at the first pipelined step. The ring is skipped where nobody is on the other end: stage 0's receive on the
 * first step, the last stage's send on the last step (the patterns' `latentIn`/`latentOut`, patterns.ts).
 * The final latent is therefore complete on the last stage, which the plan's output names.
 *
 * With warmup == steps the pipelined phase never runs and is not emitted; with warmup 0 (which xDiT cannot run:
 * its first patch step finds no K/V buffer) the K/V buffers are zero-filled in setup, so the first pipelined
 * step's not-yet-computed bands contribute zero keys and values instead of whatever memory held.
 *
 * Refused with an error naming the combination: ring and dsp axes with pipefusion, and PAB (settings.ts).
 */
import type { Facts } from "../../check/facts.js";
import type { Op, OpInit } from "../../plan/ops.js";
import type { StepTable } from "../../schedule/step-table.js";
import type { FamilyLowering } from "../families/lowering.js";
import type { LowerContext } from "../program/context.js";
import type { Head } from "../program/ends.js";
import { declarePasses, mergedSetup, passNames, renameOp } from "./merge-passes.js";
import { bandLatentRows, type PipeFusionPass } from "./pass.js";
import { runPass, type PassRun } from "./run-pass.js";
import { refusePab, type PipeFusionSettings } from "./settings.js";
import { stageSetup } from "./setup-stages.js";
import { stagePass, type StagedPass } from "./stages.js";
import { latentRing, stageTransfer } from "./transfers.js";

/** The passes a program needs: warm-up if any step is synchronous, one per band if any step is pipelined. */
export function passesOf(settings: PipeFusionSettings): PipeFusionPass[] {
  const passes: PipeFusionPass[] = [];
  if (settings.warmup > 0) passes.push({ phase: "warmup" });
  if (settings.warmup < settings.steps) {
    for (let index = 0; index < settings.patches; index++) passes.push({ phase: "pipelined", band: { index, count: settings.patches } });
  }
  return passes;
}

/** The family's lowering, run as a PipeFusion program of `settings` (see the top of this file). */
export function pipeFused(lowering: FamilyLowering, settings: PipeFusionSettings): FamilyLowering {
  return (ctx: LowerContext, facts: Facts, schedule: StepTable, noiseSeed: number): Head => {
    refusePab(ctx.pab, settings.stages);
    const runs = passesOf(settings).map((pass) => runPass(lowering, ctx, facts, schedule, noiseSeed, pass));
    const first = runs[0]!;
    for (const run of runs) {
      if (JSON.stringify(run.head.inputs) !== JSON.stringify(first.head.inputs)) throw new Error(`the ${run.prefix} pass fills other inputs than the ${first.prefix} pass`);
    }
    const latent = first.head.latent;
    const staged = runs.map((run) => stagePass(run.step, activationsOf(run), latent, settings.stages));
    const split = JSON.stringify(staged[0]!.blocks);
    if (staged.some((s) => JSON.stringify(s.blocks) !== split)) throw new Error("the PipeFusion passes run different blocks");

    const names = passNames(runs, staged);
    declarePasses(ctx.b, runs, names);
    const step: OpInit[] = names.hoisted ? staged[0]!.replicated.map((op) => renameOp(op, (n) => names.rename(0, n))) : [];
    runs.forEach((run, i) => step.push(...passProgram(ctx, run, staged[i]!, (n) => names.rename(i, n), !names.hoisted, settings)));
    const setup = [...mergedSetup(runs, names), ...(settings.warmup === 0 ? zeroKv(ctx, step) : [])];
    for (const op of stageSetup(setup, step)) ctx.b.setup(op);
    for (const op of step) ctx.b.step(op);
    return { ...first.head, x: names.rename(0, first.head.x) };
  };
}

function activationsOf(run: PassRun): Set<string> {
  return new Set(run.buffers.filter((b) => b.role === "activation").map((b) => b.name));
}

/**
 * One pass's ops in program order: its replicated prologue (unless hoisted), stage 0's ring receives, then each
 * stage's ops between the receives of what the stage before sent and the sends of what it hands on, and the
 * last stage's ring sends. Every op is tagged with the pass's phase and, where it has one, its stage.
 */
function passProgram(
  ctx: LowerContext,
  run: PassRun,
  staged: StagedPass,
  rename: (name: string) => string,
  withPrologue: boolean,
  settings: PipeFusionSettings,
): OpInit[] {
  const phase = run.pass.phase;
  const out: OpInit[] = [];
  const push = (op: OpInit) => out.push({ ...op, phase } as OpInit);
  const staging = (op: Op, stage: number) => push({ ...renameOp(op, rename), stage } as OpInit);
  if (withPrologue) for (const op of staged.replicated) push(renameOp(op, rename));

  const latent = run.head.latent;
  const bands = run.pass.band ? [run.pass.band] : Array.from({ length: settings.patches }, (_, index) => ({ index, count: settings.patches }));
  const ring = bands.map((band) => latentRing(latent, ctx.b.shapeOf(latent), bandLatentRows(ctx, band), settings.stages));
  for (const r of ring) push(r.recv);
  staged.stages.forEach((ops, s) => {
    if (s > 0) for (const name of staged.transfers[s - 1]!) push(transferOf(ctx, rename(name), s - 1).recv);
    for (const op of ops) staging(op, s);
    if (s + 1 < settings.stages) for (const name of staged.transfers[s]!) push(transferOf(ctx, rename(name), s).send);
  });
  for (const r of ring) push(r.send);
  return out;
}

function transferOf(ctx: LowerContext, name: string, from: number): { send: OpInit; recv: OpInit } {
  return stageTransfer(name, ctx.b.shapeOf(name), from);
}

/** Setup ops zero-filling every K/V buffer the step program attends to (warm-up 0 only). */
function zeroKv(ctx: LowerContext, step: readonly OpInit[]): OpInit[] {
  const buffers = [...new Set(step.flatMap((op) => (op.op === "self_attention" && op.kvCache ? [op.kvCache.buffer] : [])))];
  return buffers.map((out) => ({ op: "constant", out, values: [0], count: ctx.b.shapeOf(out).reduce((a, d) => a * d, 1) }) as OpInit);
}
