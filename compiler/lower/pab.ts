/**
 * Pyramid Attention Broadcast and MLP broadcast, lowered to static per-step compute/reuse patterns, so that the
 * runtime decides nothing while it runs (VideoSys decides with mutable per-block counters in a process-global
 * manager, opendit-videosys.md §1.2, §1.7).
 *
 * The rule is VideoSys's exactly: attention kind X at step i reuses its cached output iff the window's
 * `every` > 1, low < t_i < high (both strict), and i % every != 0, with t_i the value the model's test sees
 * (pab-timestep.ts). VideoSys keeps one counter per block, but every counter starts at 0 and advances once a
 * step, so the counter is the step index and all blocks of a kind decide alike: the decision is stored per
 * kind and expanded to blocks only by the accessors at the end. Step 0 always computes (0 % every == 0), so
 * a cache is filled before its first reuse.
 *
 * A reuse step skips the attention together with the collectives around it (the DSP all-to-alls of temporal
 * attention, Ulysses' all-to-alls): the cache holds the rank's local, post-communication output (§1.6). The
 * patterns depend only on the Spec's steps, never on a rank, so every rank runs the same pattern at the same
 * step and the collectives it keeps stay matched.
 *
 * A step's pattern is the mode of every attention kind plus the MLP keep and reuse sets; distinct patterns are
 * numbered 0, 1, 2, ... in order of first appearance, and the CUDA backend captures one graph per pattern.
 * A keep step is its own pattern because it writes a cache buffer that a plain compute step does not.
 */
import type { Facts } from "../check/facts.js";
import type { AttentionKind, BlockKind } from "../models/types.js";
import type { Dtype, Spec } from "../spec/schema.js";
import { lowerMlpBroadcast, type MlpBroadcastPlan, type MlpMode } from "./pab-mlp.js";
import { pabTestTimestep, type TestTimestepSource } from "./pab-timestep.js";

export type { MlpBroadcastPlan, MlpKeep, MlpMode } from "./pab-mlp.js";

/** What every block holding an attention kind does at one step. */
export type AttentionMode = "compute" | "reuse";

/** The window in force for one attention kind. */
export interface PabWindowPlan {
  readonly every: number;
  /** Exclusive bounds on the test timestep. */
  readonly low: number;
  readonly high: number;
}

/** The cache buffers of one attention kind. */
export interface AttentionCache {
  /** Whether any step reuses this kind; only then do its blocks keep their output between steps. */
  readonly exists: boolean;
  /** Block kinds whose blocks hold this attention. */
  readonly blockKinds: readonly BlockKind[];
  /** Blocks holding one cache each: depth for every block kind above, or 0 without a cache. */
  readonly blocks: number;
}

export interface AttentionKindPlan {
  readonly kind: AttentionKind;
  /** Null when the Spec gives no window or `off`: the kind computes at every step. */
  readonly window: PabWindowPlan | null;
  readonly modes: readonly AttentionMode[];
  /** One letter a step, as in VideoSys's worked schedule: C computes, B reuses (broadcasts). */
  readonly letters: string;
  /** The letters with a space between runs of one letter: `CCCCCCCCC B C B C ... B CCCC`. */
  readonly runs: string;
  /** Steps that compute this kind. */
  readonly computed: number;
  /** `computed 21/30`. */
  readonly summary: string;
  readonly cache: AttentionCache;
}

/** Blocks of one kind, by index ascending. */
export interface MlpBlockSet {
  readonly blockKind: BlockKind;
  readonly blocks: readonly number[];
}

export interface PabPattern {
  readonly id: number;
  /** The mode of every attention kind the model has. */
  readonly attention: Readonly<Partial<Record<AttentionKind, AttentionMode>>>;
  /** Blocks that compute their MLP and keep the output. */
  readonly mlpKeep: readonly MlpBlockSet[];
  /** Blocks that reuse a kept MLP output instead of computing. */
  readonly mlpReuse: readonly MlpBlockSet[];
  /** Steps that run this pattern, ascending. */
  readonly steps: readonly number[];
}

export interface PabStep {
  readonly index: number;
  /** The scheduler's timestep. */
  readonly timestep: number;
  /** The value the windows were tested against. */
  readonly testTimestep: number;
  readonly pattern: number;
  /** Kept MLP outputs alive during the step (written at their keep step, freed after their last reuse). */
  readonly liveMlpCaches: number;
}

export interface PabPlan {
  readonly stepCount: number;
  /** Blocks of each block kind. */
  readonly depth: number;
  /** How `testTimestep` was derived from the scheduler's timestep. */
  readonly testTimestep: { readonly source: TestTimestepSource; readonly dtype: Dtype };
  /** Every attention kind of the model, in the family's order. */
  readonly attention: readonly AttentionKindPlan[];
  /** MLP broadcast of each block kind that has one. */
  readonly mlp: readonly MlpBroadcastPlan[];
  readonly patterns: readonly PabPattern[];
  readonly steps: readonly PabStep[];
  /** The most kept MLP outputs alive at once, over all steps. */
  readonly peakLiveMlpCaches: number;
}

const ATTENTION_LETTER: Readonly<Record<AttentionMode, string>> = { compute: "C", reuse: "B" };

/** Letters with a space between runs of one letter. */
function groupRuns(letters: string): string {
  return letters.replace(/(.)(?!\1)(?=.)/g, "$1 ");
}

function lowerAttentionKind(
  kind: AttentionKind,
  window: PabWindowPlan | null,
  testTimesteps: readonly number[],
  blockKinds: readonly BlockKind[],
  depth: number,
): AttentionKindPlan {
  const modes: AttentionMode[] = testTimesteps.map((t, i) =>
    window !== null && window.every > 1 && window.low < t && t < window.high && i % window.every !== 0 ? "reuse" : "compute",
  );
  const letters = modes.map((m) => ATTENTION_LETTER[m]).join("");
  const computed = modes.filter((m) => m === "compute").length;
  const exists = modes.includes("reuse");
  return Object.freeze({
    kind,
    window: window === null ? null : Object.freeze({ ...window }),
    modes: Object.freeze(modes),
    letters,
    runs: groupRuns(letters),
    computed,
    summary: `computed ${computed}/${modes.length}`,
    cache: Object.freeze({ exists, blockKinds: Object.freeze([...blockKinds]), blocks: exists ? depth * blockKinds.length : 0 }),
  });
}

function blockSets(mlp: readonly MlpBroadcastPlan[], step: number, mode: MlpMode): readonly MlpBlockSet[] {
  return Object.freeze(
    mlp.filter((m) => m.modes[step] === mode).map((m) => Object.freeze({ blockKind: m.blockKind, blocks: m.blocks })),
  );
}

/**
 * Lowers the Spec's PAB windows and MLP broadcast for a Spec that passed the checker. Facts must hold the
 * family, its hyperparameters and the timesteps; a window or MLP broadcast the checker would have rejected is a
 * caller's bug and throws. A Spec without PAB lowers to one pattern in which everything computes.
 */
export function lowerPab(spec: Spec, facts: Facts): PabPlan {
  const { family, hyper, timesteps } = facts;
  if (!family || !hyper || !timesteps) throw new Error("lowerPab needs the family, hyperparameters and timesteps of a checked Spec");
  if (timesteps.length !== spec.scheduler.steps) {
    throw new Error(`lowerPab got ${timesteps.length} timesteps for a ${spec.scheduler.steps}-step scheduler`);
  }
  const source: TestTimestepSource = family.pabTimestep;
  const dtype: Dtype = spec.model.dtype ?? "bf16";
  const testTimesteps = timesteps.map((t) => pabTestTimestep(t, source, dtype));

  for (const kind of ["spatial", "temporal", "cross"] as const) {
    if (facts.windows[kind]?.kind === "window" && !family.attention.includes(kind)) {
      throw new Error(`PAB window for ${kind} attention, which ${family.title} does not have`);
    }
  }
  const attention = family.attention.map((kind) => {
    const hosts = family.attentionBlocks[kind];
    if (!hosts || hosts.length === 0) throw new Error(`no block kind of ${family.family} is known to hold ${kind} attention`);
    const w = facts.windows[kind];
    const window = w?.kind === "window" ? { every: w.every, low: w.low, high: w.high } : null;
    return lowerAttentionKind(kind, window, testTimesteps, hosts, hyper.depth);
  });

  const mlpSpec = spec.acceleration?.pab?.mlp;
  const mlp: MlpBroadcastPlan[] = [];
  for (const blockKind of ["spatial", "temporal"] as const) {
    const m = mlpSpec?.[blockKind];
    if (!m) continue;
    if (!family.mlpBlockKinds.includes(blockKind)) throw new Error(`MLP broadcast of ${blockKind} blocks, which ${family.title} does not have`);
    mlp.push(lowerMlpBroadcast(blockKind, m, timesteps.length, hyper.depth));
  }

  const patterns: { key: string; pattern: Omit<PabPattern, "steps">; steps: number[] }[] = [];
  const steps: PabStep[] = timesteps.map((timestep, index) => {
    const modes = Object.freeze(Object.fromEntries(attention.map((a) => [a.kind, a.modes[index]!])));
    const mlpKeep = blockSets(mlp, index, "keep");
    const mlpReuse = blockSets(mlp, index, "reuse");
    const key = JSON.stringify([modes, mlpKeep, mlpReuse]);
    let found = patterns.find((p) => p.key === key);
    if (!found) {
      found = { key, pattern: { id: patterns.length, attention: modes, mlpKeep, mlpReuse }, steps: [] };
      patterns.push(found);
    }
    found.steps.push(index);
    const liveMlpCaches = mlp.reduce((sum, m) => sum + m.live[index]!, 0);
    return Object.freeze({ index, timestep, testTimestep: testTimesteps[index]!, pattern: found.pattern.id, liveMlpCaches });
  });

  return Object.freeze({
    stepCount: timesteps.length,
    depth: hyper.depth,
    testTimestep: Object.freeze({ source, dtype }),
    attention: Object.freeze(attention),
    mlp: Object.freeze(mlp),
    patterns: Object.freeze(patterns.map((p) => Object.freeze({ ...p.pattern, steps: Object.freeze(p.steps) }))),
    steps: Object.freeze(steps),
    peakLiveMlpCaches: Math.max(0, ...steps.map((s) => s.liveMlpCaches)),
  });
}

/**
 * What block `block` of `blockKind` does with its `kind` attention at `step`; throws when that block does not
 * hold that attention.
 */
export function attentionModeOf(plan: PabPlan, step: number, kind: AttentionKind, blockKind: BlockKind, block: number): AttentionMode {
  const a = plan.attention.find((x) => x.kind === kind);
  if (!a || !a.cache.blockKinds.includes(blockKind) || block < 0 || block >= plan.depth) {
    throw new Error(`${blockKind} block ${block} holds no ${kind} attention`);
  }
  const mode = a.modes[step];
  if (mode === undefined) throw new Error(`step ${step} is outside the ${plan.stepCount}-step schedule`);
  return mode;
}

/** What block `block` of `blockKind` does with its MLP at `step`: blocks without MLP broadcast always compute. */
export function mlpModeOf(plan: PabPlan, step: number, blockKind: BlockKind, block: number): MlpMode {
  if (step < 0 || step >= plan.stepCount) throw new Error(`step ${step} is outside the ${plan.stepCount}-step schedule`);
  const m = plan.mlp.find((x) => x.blockKind === blockKind);
  return m && m.blocks.includes(block) ? m.modes[step]! : "compute";
}
