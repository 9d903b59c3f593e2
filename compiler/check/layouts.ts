/**
 * Parallel layouts a pipeline can use: which assignments of degrees to the axes fit its model, its size and a
 * world size, why an assignment does not fit, and how the fitting ones rank. Everything here is a pure
 * function of the Spec and its facts, so the parallel rules (for their hints) and `opendit tune` share it.
 *
 * The constraints (opendit-videosys.md §2, xdit.md §1.2 and §2), each checked only when the facts it needs are
 * known (a rule elsewhere reports why a fact is missing):
 * - cfg: degree 1 or 2, and 2 only when an unconditional branch runs (guidance above 1, a family with a null
 *   input, and for class-or-none families, labels to guide).
 * - ulysses: divides the attention heads.
 * - dsp: only for spatial-temporal (video) families; divides the token frames and the spatial tokens per
 *   frame; never together with ulysses or ring.
 * - ulysses x ring: their product divides the rows x cols tokens of each frame (the lowering shards them;
 *   temporal attention stays local).
 * - pipefusion: at most one stage per block, the token rows split into `patches x ulysses x ring` bands, its
 *   settings given, and no ring or dsp axis beside it (not lowered).
 * - dp: divides the prompts (or labels), each group taking an equal share.
 * No padding is assumed: a layout listed here splits everything evenly.
 */
import { AXES, type Axis } from "../../grammar/expr/types.js";
import type { Geometry, Hyper, ModelFamily } from "../models/types.js";
import type { Spec } from "../spec/schema.js";
import type { Facts } from "./facts.js";

export type Degrees = Readonly<Record<Axis, number>>;

/** Degrees with every axis at 1 except those given. */
export function degreesOf(partial: Partial<Record<Axis, number>>): Degrees {
  const out = Object.fromEntries(AXES.map((a) => [a, 1])) as Record<Axis, number>;
  for (const axis of AXES) {
    const d = partial[axis];
    if (d !== undefined) out[axis] = d;
  }
  return out;
}

/** The positive divisors of n, ascending (n >= 1). */
export function divisors(n: number): number[] {
  const low: number[] = [];
  const high: number[] = [];
  for (let i = 1; i * i <= n; i++) {
    if (n % i !== 0) continue;
    low.push(i);
    if (i * i !== n) high.unshift(n / i);
  }
  return [...low, ...high];
}

/** The number of ranks a layout uses: the product of its degrees. */
export function rankCount(degrees: Partial<Record<Axis, number>>): number {
  let n = 1;
  for (const axis of AXES) n *= degrees[axis] ?? 1;
  return n;
}

/** A layout in canonical order (dp, cfg, pipefusion, ring, ulysses, dsp; outermost first), axes above 1 only. */
export function formatLayout(degrees: Partial<Record<Axis, number>>): string {
  return AXES.filter((a) => (degrees[a] ?? 1) > 1)
    .map((a) => `${a} ${degrees[a]}`)
    .join(" x ");
}

/** Blocks a pipeline stage can hold: interleaved families count their spatial and temporal blocks apart. */
export function blockCount(family: ModelFamily, hyper: Hyper): number {
  return family.blocks === "interleaved" ? 2 * hyper.depth : hyper.depth;
}

/** Whether a spatial-temporal family: DSP switches between frame and spatial sharding, so it needs both. */
export function isSpatialTemporal(family: ModelFamily): boolean {
  return family.kind === "video" && family.attention.includes("temporal");
}

/**
 * Whether the family can run an unconditional branch for this Spec: it has a null input, and a class-or-none
 * family is given labels (without them it runs unconditionally and there is nothing to guide).
 */
export function hasNullInput(spec: Spec, family: ModelFamily): boolean {
  if (family.uncond === "none") return false;
  if (family.conditioning === "class-or-none" && spec.conditioning?.labels === undefined) return false;
  return true;
}

/** Whether an unconditional branch runs, so that a cfg axis has something to place. */
export function unconditionalBranch(spec: Spec, facts: Facts): boolean {
  return facts.cfg && facts.family !== undefined && hasNullInput(spec, facts.family);
}

/**
 * Samples the inputs give: prompts, else labels, and one for an embeddings file (it holds one sample, as
 * lowering's sampleCount takes it); undefined when none are given, or when prompts and embeddings both are
 * (ConditioningKindRule refuses that).
 */
export function inputCount(spec: Spec): number | undefined {
  const c = spec.conditioning;
  if (!c) return undefined;
  if (c.embeddings !== undefined) return c.prompts === undefined ? 1 : undefined;
  return c.prompts?.length ?? c.labels?.length;
}

/** PipeFusion patches: the Spec's, else one per stage (xDiT's default `num_pipeline_patch`). */
export function pipefusionPatches(spec: Spec, degrees: Degrees): number {
  return spec.parallel?.pipefusion?.patches ?? degrees.pipefusion;
}

/** The sequences the parallel axes shard, in tokens. */
export interface Sequences {
  /** Token frames (1 for images). */
  readonly frames: number;
  readonly rows: number;
  /** Tokens of one frame: rows x cols. */
  readonly spatial: number;
  /** The whole token sequence: frames x rows x cols. */
  readonly total: number;
}

/** The token sequences of a geometry; undefined when it has no tokens (a size rule reports why). */
export function sequencesOf(geometry: Geometry | undefined): Sequences | undefined {
  if (!geometry) return undefined;
  const { tokenFrames: frames, tokenRows: rows, tokenCols: cols } = geometry;
  if (!(frames >= 1 && rows >= 1 && cols >= 1)) return undefined;
  return { frames, rows, spatial: rows * cols, total: frames * rows * cols };
}

/** The smallest multiple of `by` that holds n. */
export function padTo(n: number, by: number): number {
  return Math.ceil(n / by) * by;
}

/**
 * Why an assignment of degrees does not fit this pipeline (without padding), one sentence fragment per
 * broken constraint; empty when it fits. The world size is not checked here.
 */
export function layoutProblems(spec: Spec, facts: Facts, degrees: Degrees): string[] {
  const problems: string[] = [];
  const { family, hyper } = facts;
  const seq = sequencesOf(facts.geometry);
  const { cfg, ulysses, ring, dsp, pipefusion } = degrees;

  if (cfg > 2) problems.push(`cfg degree ${cfg} is not 2`);
  if (cfg === 2 && family !== undefined && !unconditionalBranch(spec, facts)) problems.push("no unconditional branch runs");
  if (hyper && hyper.heads % ulysses !== 0) problems.push(`ulysses ${ulysses} does not divide ${hyper.heads} heads`);
  if (dsp > 1) {
    if (family && !isSpatialTemporal(family)) problems.push("dsp needs a spatial-temporal model");
    if (ulysses > 1 || ring > 1) problems.push("dsp does not combine with ulysses or ring");
    if (seq && seq.frames % dsp !== 0) problems.push(`dsp ${dsp} does not divide ${seq.frames} frames`);
    if (seq && seq.spatial % dsp !== 0) problems.push(`dsp ${dsp} does not divide ${seq.spatial} spatial tokens`);
  }
  if (seq && ulysses * ring > 1 && seq.spatial % (ulysses * ring) !== 0) {
    problems.push(`ulysses x ring ${ulysses * ring} does not divide the ${seq.spatial} tokens of each frame`);
  }
  const inputs = inputCount(spec);
  if (degrees.dp > 1 && inputs !== undefined && inputs % degrees.dp !== 0) problems.push(`dp ${degrees.dp} does not divide ${inputs} inputs`);
  if (pipefusion > 1) {
    if (spec.parallel?.pipefusion === undefined) problems.push("pipefusion needs `parallel.pipefusion` settings (patches, warmup)");
    if (ring > 1 || dsp > 1) problems.push("pipefusion does not combine with ring or dsp");
    if (family && hyper && pipefusion > blockCount(family, hyper)) problems.push(`pipefusion ${pipefusion} exceeds ${blockCount(family, hyper)} blocks`);
    const bands = pipefusionPatches(spec, degrees) * ulysses * ring;
    if (seq && seq.rows % bands !== 0) problems.push(`${seq.rows} token rows do not split into ${bands} bands`);
  }
  return problems;
}

/**
 * How much an axis is preferred (lower first). cfg costs one all-gather of the output per step; DSP two
 * all-to-alls per spatial-temporal pair; Ulysses four per attention; Ring passes K/V around every attention;
 * PipeFusion works on stale K/V. Data parallel, which only layouts whose inputs split evenly over it reach, needs
 * no communication at all.
 */
function axisPreference(axis: Axis): number {
  switch (axis) {
    case "cfg":
      return 0;
    case "dp":
      return 1;
    case "dsp":
      return 2;
    case "ulysses":
      return 3;
    case "ring":
      return 4;
    case "pipefusion":
      return 5;
  }
}

/**
 * Sort key of a layout, compared element by element: the number of axes other than cfg (cfg is nearly free,
 * so `cfg 2 x dsp 4` and `dsp 8` rank together), then the preference of those axes (most preferred first),
 * then whether cfg is used (when it can be, it should), then larger degrees on more preferred axes.
 */
function rankKey(degrees: Degrees): number[] {
  const used = AXES.filter((a) => a !== "cfg" && degrees[a] > 1)
    .map((a) => ({ a, p: axisPreference(a) }))
    .sort((x, y) => x.p - y.p);
  return [used.length, ...used.map((u) => u.p), degrees.cfg > 1 ? 0 : 1, ...used.map((u) => -degrees[u.a])];
}

function compareKeys(x: readonly number[], y: readonly number[]): number {
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Every layout for `world` ranks that fits this pipeline (see the constraints above), best first, each in
 * canonical form such as `cfg 2 x dsp 4`. World 1 needs no layout and gives an empty list.
 */
export function validLayouts(spec: Spec, facts: Facts, world: number): string[] {
  if (!Number.isInteger(world) || world < 2) return [];
  const family = facts.family;
  const cfgDegrees = family === undefined || unconditionalBranch(spec, facts) ? [1, 2] : [1];
  const dspAllowed = family === undefined || isSpatialTemporal(family);
  const found: { text: string; key: number[] }[] = [];
  const current: Record<Axis, number> = { ...degreesOf({}) };

  const visit = (index: number, remaining: number): void => {
    if (index === AXES.length) {
      if (remaining !== 1) return;
      const degrees = degreesOf(current);
      if (layoutProblems(spec, facts, degrees).length > 0) return;
      found.push({ text: formatLayout(degrees), key: rankKey(degrees) });
      return;
    }
    const axis = AXES[index]!;
    let options = divisors(remaining);
    if (axis === "cfg") options = options.filter((d) => cfgDegrees.includes(d));
    if (axis === "dsp") options = options.filter((d) => d === 1 || (dspAllowed && current.ulysses === 1 && current.ring === 1));
    if (index === AXES.length - 1) options = options.filter((d) => d === remaining);
    // Early cuts of the constraints that depend on one axis alone (layoutProblems checks them all again).
    const { hyper } = facts;
    if (axis === "ulysses" && hyper) options = options.filter((d) => hyper.heads % d === 0);
    if (axis === "pipefusion" && family && hyper) options = options.filter((d) => d <= blockCount(family, hyper));
    for (const d of options) {
      current[axis] = d;
      visit(index + 1, remaining / d);
    }
    current[axis] = 1;
  };
  visit(0, world);

  found.sort((x, y) => compareKeys(x.key, y.key) || (x.text < y.text ? -1 : x.text > y.text ? 1 : 0));
  return found.map((f) => f.text);
}
