/**
 * Spec -> plan.decode: the VAE decode of the final latent, lowered after the step program. It chooses the
 * split (settings.ts: whole frames, tiles, or row bands over the decode group), lowers one pass of the decoder
 * for the pass's input size (program.ts), plans the decode's own arena (plan/memory.ts: `input` and `output`
 * held for the whole pass, activations sharing bytes by liveness), lists the decoder's weights with their
 * other official names, says which ranks decode and how many passes they run, and prices it (cost/decode-cost.ts).
 */
import type { Facts } from "../../check/facts.js";
import { decodeCost } from "../../cost/decode-cost.js";
import type { GpuProfile } from "../../hardware/gpus.js";
import { vaeDecoder } from "../../models/vae/index.js";
import { planMemory } from "../../plan/memory.js";
import type { DecodeSplit, PlanDecode, PlanWeight } from "../../plan/types.js";
import type { Spec } from "../../spec/schema.js";
import { rankAt, type Mesh } from "../mesh.js";
import { ProgramBuilder } from "../program/builder.js";
import { lowerDecodePass, type DecodePassShape } from "./program.js";
import { decodeSettings, type DecodeSettings } from "./settings.js";
import { tiledSplit } from "./tiles.js";

/** Whether the plan's mesh needs `decode` groups: a patch split over more than one rank. */
export function needsDecodeGroups(settings: DecodeSettings | undefined): boolean {
  return settings !== undefined && settings.parallel === "patch" && settings.groupSize > 1;
}

function splitOf(settings: DecodeSettings, height: number, width: number, factor: number): DecodeSplit {
  if (settings.tiling) return tiledSplit(settings.tiling, height, width, factor);
  if (needsDecodeGroups(settings)) {
    if (height % settings.groupSize !== 0) throw new Error(`latent height ${height} does not split over the ${settings.groupSize} ranks of a decode group`);
    return { kind: "patch", axis: "decode", parts: settings.groupSize };
  }
  return { kind: "whole" };
}

/** The ranks that decode: every member of the decode groups (patch), else one per dp group, the one returning outputs. */
function decodeRanks(mesh: Mesh, split: DecodeSplit): number[] {
  if (split.kind === "patch") {
    const groups = mesh.groups.decode;
    if (!groups) throw new Error("a patch-split decode needs the mesh's decode groups");
    return groups.flat().sort((a, b) => a - b);
  }
  const dp = mesh.axes.find((a) => a.name === "dp")?.degree ?? 1;
  const stages = mesh.axes.find((a) => a.name === "pipefusion")?.degree ?? 1;
  const ranks: number[] = [];
  for (let d = 0; d < dp; d++) ranks.push(rankAt(mesh, { dp: d, pipefusion: stages - 1 }));
  return ranks;
}

/**
 * plan.decode for a checked Spec, or undefined when the run decodes nothing. `mesh` must carry the decode
 * groups when the split is patch (needsDecodeGroups); `samples` is the run's samples per dp group.
 */
export function lowerDecode(spec: Spec, facts: Facts, mesh: Mesh, samples: number, gpu: GpuProfile): PlanDecode | undefined {
  const settings = decodeSettings(spec, facts);
  if (!settings) return undefined;
  const { geometry } = facts;
  if (!geometry) throw new Error("lowering the decode needs the latent geometry");
  const vae = vaeDecoder(settings.vae);
  const latent = { channels: vae.latentChannels, frames: geometry.latentFrames, height: geometry.latentHeight, width: geometry.latentWidth };
  const split = splitOf(settings, latent.height, latent.width, vae.factor);
  const frames = settings.framesPerPass;
  const shape: DecodePassShape =
    split.kind === "tiled"
      ? { frames, height: split.tile.height, width: split.tile.width }
      : split.kind === "patch"
        ? { frames, height: latent.height / split.parts, width: latent.width, parts: split.parts }
        : { frames, height: latent.height, width: latent.width };

  const table = vae.weights();
  const builder = new ProgramBuilder(table, settings.dtype);
  const { input, output } = lowerDecodePass(builder, vae, shape);
  const built = builder.finish();
  const memory = planMemory(built.buffers, built.step);
  const read = new Set(built.weightsRead);
  const weights: PlanWeight[] = table
    .filter((w) => read.has(w.name))
    .map((w) => ({ name: w.name, shape: w.shape, dtype: settings.dtype, ...(w.aliases.length > 0 ? { aliases: w.aliases } : {}) }));
  const tiles = split.kind === "tiled" ? split.rows.length * split.cols.length : 1;

  const body: Omit<PlanDecode, "cost"> = {
    vae: settings.vae,
    checkpoint: settings.checkpoint ?? "",
    weightsSeed: settings.weightsSeed,
    dtype: settings.dtype,
    scale: vae.scale,
    latent,
    image: { height: vae.factor * latent.height, width: vae.factor * latent.width },
    samples,
    framesPerPass: frames,
    split,
    passes: Math.ceil(latent.frames / frames) * tiles,
    ranks: decodeRanks(mesh, split),
    weights,
    buffers: memory.buffers,
    arenaBytes: memory.arenaBytes,
    input,
    output,
    program: built.step,
  };
  return { ...body, cost: decodeCost(body, mesh, gpu) };
}
