/**
 * Spec -> Plan: the sampler's step table, the PAB patterns, the mesh and its groups, the family's step program
 * with the layout's collectives, the static memory plan, and the VAE decode after the step loop (decode/),
 * assembled into one immutable, hashed Plan (the hash covers the decode too). Runs
 * only on a Spec the checker accepted; anything it cannot lower is a compiler defect and throws.
 */
import type { Facts } from "../check/facts.js";
import { planCost } from "../cost/plan-cost.js";
import { planMemory } from "../plan/memory.js";
import { stageList, stagesOf } from "../plan/stage-sets.js";
import type { Op } from "../plan/ops.js";
import { canonicalJson, sha256 } from "../plan/serialize.js";
import { PLAN_FORMAT, PLAN_VERSION, type Plan, type PlanDtype, type PlanPattern, type PlanWeight } from "../plan/types.js";
import { lowerSchedule } from "../schedule/lower.js";
import type { Spec } from "../spec/schema.js";
import { familyLowerings } from "./families/index.js";
import { lowerDecode, needsDecodeGroups } from "./decode/lower-decode.js";
import { decodeSettings } from "./decode/settings.js";
import { buildMesh } from "./mesh.js";
import { lowerPab, type PabPlan } from "./pab.js";
import { ProgramBuilder } from "./program/builder.js";
import { createLowerContext } from "./program/context.js";
import { pipeFused } from "./pipefusion/lower-pipefusion.js";
import { pipeFusionPatterns } from "./pipefusion/patterns.js";
import { pipeFusionSettings, withinStage } from "./pipefusion/settings.js";

export interface LowerOptions {
  /** GPUs per node, for rank placement (default: all ranks on one node). */
  readonly ranksPerNode?: number;
}

const PLAN_DTYPE: Readonly<Record<"fp32" | "fp16" | "bf16", PlanDtype>> = { fp32: "f32", fp16: "f16", bf16: "bf16" };

function patternsOf(pab: PabPlan): PlanPattern[] {
  const names = (sets: readonly { blockKind: string; blocks: readonly number[] }[]) => sets.flatMap((s) => s.blocks.map((b) => `${s.blockKind}:${b}`));
  return pab.patterns.map((p) => ({
    id: p.id,
    reuse: Object.entries(p.attention)
      .filter(([, mode]) => mode === "reuse")
      .map(([kind]) => kind),
    mlpReuse: names(p.mlpReuse),
    mlpKeep: names(p.mlpKeep),
    steps: p.steps.length,
  }));
}

export function lowerPlan(spec: Spec, facts: Facts, options: LowerOptions = {}): Plan {
  const { family, hyper, size, geometry } = facts;
  if (!family || !hyper || !size || !geometry) throw new Error("lowering needs a checked Spec (family, hyperparameters and size)");
  const lowering = familyLowerings[family.family];
  if (!lowering) throw new Error(`the ${family.family} family has no lowering yet`);

  const schedule = lowerSchedule(spec.scheduler, size);
  const pab = lowerPab(spec, facts);
  const dtype = PLAN_DTYPE[spec.model.dtype ?? "bf16"];
  const weights = family.weights(hyper);
  const builder = new ProgramBuilder(weights, dtype);
  // PipeFusion lowers the family once per phase and band, within a stage's layout (lower/pipefusion).
  const pipefusion = pipeFusionSettings(spec, facts);
  const ctx = createLowerContext(builder, spec, pipefusion ? withinStage(facts) : facts, pab);
  const head = (pipefusion ? pipeFused(lowering, pipefusion) : lowering)(ctx, facts, schedule, spec.seed ?? 0);
  const built = builder.finish();
  const memory = planMemory(built.buffers, built.step, built.setup);
  const stages = stagesOf([built.setup, built.step]);
  const decodeGroups = needsDecodeGroups(decodeSettings(spec, facts));
  const mesh = buildMesh(facts.degrees, { ...(options.ranksPerNode !== undefined ? { ranksPerNode: options.ranksPerNode } : {}), ...(decodeGroups ? { decodeGroups } : {}) });
  const decode = lowerDecode(spec, facts, mesh, ctx.localSamples, facts.gpu);
  const read = new Set(built.weightsRead);
  const planWeights: PlanWeight[] = weights.filter((w) => read.has(w.name) || w.name.endsWith("y_embedding")).map((w) => {
    const only = stageList(stages.get(w.name));
    return { name: w.name, shape: w.shape, dtype, ...(only ? { stages: only } : {}) };
  });
  const basePatterns = patternsOf(pab);
  const stepped = pipefusion ? pipeFusionPatterns(basePatterns, pab.steps.map((s) => s.pattern), pipefusion) : undefined;

  const body: Omit<Plan, "hash" | "cost"> = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    name: spec.name,
    model: {
      family: family.family,
      title: family.title,
      ...(spec.model.variant !== undefined ? { variant: spec.model.variant } : {}),
      checkpoint: spec.model.checkpoint,
      weightsSeed: spec.model.weights_seed ?? 0,
      dtype: spec.model.dtype ?? "bf16",
      hyper,
    },
    geometry: {
      frames: size.frames,
      height: size.height,
      width: size.width,
      latent: { channels: hyper.inChannels, frames: geometry.latentFrames, height: geometry.latentHeight, width: geometry.latentWidth },
      tokens: { frames: geometry.tokenFrames, rows: geometry.tokenRows, cols: geometry.tokenCols },
      samples: ctx.samples,
      batch: ctx.n,
    },
    mesh,
    schedule: {
      kind: schedule.kind,
      solver: schedule.solver,
      trainSteps: schedule.trainSteps,
      guidance: ctx.guided ? guidanceSummary(built.step) : null,
    },
    weights: planWeights,
    buffers: memory.buffers,
    arenaBytes: memory.arenaBytes,
    inputs: head.inputs,
    outputs: [{ buffer: head.latent, name: "latents", ...(pipefusion ? { stage: pipefusion.stages - 1 } : {}) }],
    program: { setup: built.setup, step: built.step },
    patterns: stepped?.patterns ?? basePatterns,
    steps: schedule.steps.map((s, i) => ({ schedule: s, pattern: stepped?.stepPatterns[i] ?? pab.steps[i]!.pattern })),
    // Only a padded layout carries the field, so the plans of even layouts keep their bytes and hashes.
    ...(ctx.padding.length > 0 ? { padding: ctx.padding } : {}),
  };
  // The decode is priced on its own (plan.decode.cost); only a plan that decodes carries the field.
  const priced: Omit<Plan, "hash"> = { ...body, cost: planCost(body, facts.gpu), ...(decode ? { decode } : {}) };
  return deepFreeze({ ...priced, hash: sha256(canonicalJson(priced)) });
}

/** The guidance op's settings, lifted to the plan's schedule summary. */
function guidanceSummary(step: readonly Op[]): NonNullable<Plan["schedule"]["guidance"]> {
  const g = step.find((o) => o.op === "guidance");
  if (g?.op !== "guidance") throw new Error("a guided plan has no guidance op");
  return { scale: g.scale, mixed: g.mixed, variance: g.variance };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

