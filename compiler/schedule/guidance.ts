/**
 * Which output channels classifier-free guidance mixes, out = u + s·(c − u), for a family and sampler
 * (models.md §9.5), as data for the plan.
 *
 * Samplers from IDDPM's code base (ancestral IDDPM, and DDIM with `spacing: iddpm`) call the model's
 * `forward_with_cfg`, which in DiT and STDiT 1.0 mixes only the first 3 eps channels; the family record's
 * `cfgChannels` holds that count, and `cfg_channels: all` overrides it. DPM-Solver, diffusers' DDIM and the
 * flow samplers drop the variance half first (or mix it and then drop it, which is the same) and mix every
 * channel. The variance half is kept, from the conditional branch, only where the sampler reads it: IDDPM's
 * learned range.
 */
import type { ModelFamily } from "../models/types.js";
import type { ScheduleInput } from "./timesteps.js";

export interface GuidanceChannels {
  /** Leading channels of the prediction (eps or velocity) that guidance mixes; "all" mixes every one. */
  readonly mixed: number | "all";
  /** Prediction channels past `mixed` are the conditional branch's, unmixed. */
  readonly unmixedFrom: "cond";
  /** A learned-variance half: dropped before guidance, or taken from the conditional branch. */
  readonly variance: "drop" | "cond";
}

export function guidanceFor(family: ModelFamily, s: ScheduleInput): GuidanceChannels {
  const throughForwardWithCfg = s.kind === "iddpm" || (s.kind === "ddim" && s.spacing === "iddpm");
  const official = (s.cfg_channels ?? "official") === "official";
  return {
    mixed: official && throughForwardWithCfg ? family.cfgChannels : "all",
    unmixedFrom: "cond",
    variance: s.kind === "iddpm" ? "cond" : "drop",
  };
}
