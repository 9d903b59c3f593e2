/**
 * Facts derived once from a schema-valid Spec, for every rule to share: the family record, resolved
 * hyperparameters, the latent and token geometry, the parsed layout and PAB windows, the sampler's timesteps
 * and the GPU profile. A fact that cannot be derived (an unknown variant, a layout that does not parse) is
 * left undefined; the rule that owns that mistake reports it, and rules that need the fact stay silent.
 */
import { parseLayout, parseWindow } from "../../grammar/expr/parse.js";
import type { Axis, ExprIssue, ExprResult, Layout, PabWindow } from "../../grammar/expr/types.js";
import { AXES } from "../../grammar/expr/types.js";
import type { Range } from "../../grammar/source.js";
import type { Pointer, SourceTree } from "../../grammar/source-tree.js";
import { DEFAULT_GPU, GPU_PROFILES, type GpuProfile } from "../hardware/gpus.js";
import { familyInfo } from "../models/registry.js";
import type { AttentionKind, Geometry, Hyper, ModelFamily } from "../models/types.js";
import { timesteps } from "../schedule/timesteps.js";
import type { Spec } from "../spec/schema.js";

export interface PipelineSize {
  /** 1 for images. */
  readonly frames: number;
  readonly height: number;
  readonly width: number;
}

export interface Facts {
  readonly family: ModelFamily | undefined;
  /** Undefined when the variant is unknown or neither/both of variant and hyper are given. */
  readonly hyper: Hyper | undefined;
  /** Undefined when the size section does not match the family kind. */
  readonly size: PipelineSize | undefined;
  readonly geometry: Geometry | undefined;
  /** Undefined when there is no layout or it does not parse. */
  readonly layout: Layout | undefined;
  /** Degree of every axis (1 where the layout does not name it). */
  readonly degrees: Readonly<Record<Axis, number>>;
  readonly world: number;
  /** The guidance scale in force: the Spec's, else the family default (1 where there is no unconditional branch). */
  readonly guidance: number;
  /** Whether an unconditional branch runs: guidance above 1 and a pipeline that has one (`hasUncondBranch`). */
  readonly cfg: boolean;
  readonly windows: Readonly<Partial<Record<AttentionKind, PabWindow>>>;
  /** Model timestep at each step, first step first; undefined without a size. */
  readonly timesteps: readonly number[] | undefined;
  readonly gpu: GpuProfile;
}

/** An expression problem, already placed in the file. */
export interface PlacedIssue extends ExprIssue {
  readonly at: Pointer;
}

function parseAt<T>(
  tree: SourceTree,
  at: Pointer,
  text: string,
  parse: (text: string, base: number) => ExprResult<T>,
  issues: PlacedIssue[],
): T | undefined {
  const node = tree.nodes.get(at);
  const verbatim = node?.contentStart !== undefined;
  const result = parse(text, verbatim ? node.contentStart! : 0);
  const whole: Range | undefined = node?.value;
  for (const issue of result.issues) {
    // A string written with escapes cannot be mapped character by character: underline all of it.
    issues.push({ ...issue, at, range: verbatim || !whole ? issue.range : whole });
  }
  return result.value;
}

export function resolveHyperFor(family: ModelFamily | undefined, model: Spec["model"]): Hyper | undefined {
  if (!family) return undefined;
  if (model.variant !== undefined && model.hyper !== undefined) return undefined;
  if (model.hyper !== undefined) return model.hyper.heads > 0 ? family.resolve(model.hyper) : undefined;
  const name = model.variant ?? Object.keys(family.variants)[0];
  const input = name === undefined ? undefined : family.variants[name];
  return input ? family.resolve(input) : undefined;
}

/**
 * Whether guidance has an unconditional branch to run: the family has one, and a family that may run without
 * labels is given labels and a checkpoint with classes (an unconditional sample has nothing to guide against).
 */
export function hasUncondBranch(family: ModelFamily | undefined, hyper: Hyper | undefined, spec: Spec): boolean {
  if (!family || family.uncond === "none") return false;
  if (family.conditioning !== "class-or-none") return true;
  return spec.conditioning?.labels !== undefined && (hyper === undefined || hyper.numClasses > 0);
}

/** A schedule with a non-finite timestep is one a rule refuses (RflowFramesRule); other rules then stay silent. */
function finiteOrUndefined(values: number[]): number[] | undefined {
  return values.every(Number.isFinite) ? values : undefined;
}

export function deriveFacts(spec: Spec, tree: SourceTree, gpuProfile?: GpuProfile): { facts: Facts; issues: PlacedIssue[] } {
  const issues: PlacedIssue[] = [];
  const family = familyInfo(spec.model.family);
  const hyper = resolveHyperFor(family, spec.model);

  let size: PipelineSize | undefined;
  if (family?.kind === "video" && spec.video) size = { frames: spec.video.frames, height: spec.video.height, width: spec.video.width };
  if (family?.kind === "image" && spec.image) size = { frames: 1, height: spec.image.height, width: spec.image.width };

  let geometry: Geometry | undefined;
  if (family && hyper && size && typeof family.latentFrames(size.frames) === "number") geometry = family.geometry(hyper, size);

  const layoutText = spec.parallel?.layout;
  const layout = layoutText === undefined ? undefined : parseAt(tree, "/parallel/layout", layoutText, parseLayout, issues);
  const degrees = Object.fromEntries(AXES.map((a) => [a, 1])) as Record<Axis, number>;
  for (const term of layout?.terms ?? []) degrees[term.axis] = term.degree;

  const windows: Partial<Record<AttentionKind, PabWindow>> = {};
  const pab = spec.acceleration?.pab;
  for (const kind of ["spatial", "temporal", "cross"] as const) {
    const text = pab?.[kind];
    if (text === undefined) continue;
    const w = parseAt(tree, `/acceleration/pab/${kind}`, text, parseWindow, issues);
    if (w) windows[kind] = w;
  }

  const uncond = hasUncondBranch(family, hyper, spec);
  const guidance = spec.scheduler.guidance ?? (uncond ? family?.defaults.guidance : undefined) ?? 1;
  const facts: Facts = {
    family,
    hyper,
    size,
    geometry,
    layout,
    degrees,
    world: spec.parallel?.world ?? 1,
    guidance,
    cfg: guidance > 1 && uncond,
    windows,
    timesteps: size ? finiteOrUndefined(timesteps(spec.scheduler, size)) : undefined,
    gpu: gpuProfile ?? GPU_PROFILES[spec.runtime?.gpu ?? DEFAULT_GPU],
  };
  return { facts, issues };
}
