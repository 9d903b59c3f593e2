/**
 * The point-to-point transfers of a PipeFusion program, all over the `pipefusion` axis and all with static
 * shapes taken from the buffers' declarations, so sender and receiver agree before anything runs (xDiT
 * negotiates shapes at run time, where its users report hangs: xdit.md §2.2, §8.3):
 * - between neighbouring stages, the activations a stage hands on (stages.ts), whole buffers;
 * - the pipeline ring, last stage to stage 0: the latent rows of each band after the solver updated them, so
 *   stage 0 embeds the next step's band as soon as that band has gone round (the latent is
 *   [samples, C, T, H, W], viewed [samples·C·T, H, W, 1] with the band's slice of H).
 */
import type { OpInit } from "../../plan/ops.js";
import type { LatentRows } from "./pass.js";

type Dims4 = readonly [number, number, number, number];

/** A buffer of any rank as a 4-D view: its leading dimensions folded, its last one kept. */
function wholeView(shape: readonly number[]): Dims4 {
  const last = shape[shape.length - 1] ?? 1;
  const lead = shape.slice(0, -1).reduce((a, d) => a * d, 1);
  return [lead, last, 1, 1];
}

/** Stage `from` sends `name` to stage from + 1, which receives it into its own buffer of the same name. */
export function stageTransfer(name: string, shape: readonly number[], from: number): { send: OpInit; recv: OpInit } {
  const dims = wholeView(shape);
  return {
    send: { op: "send", axis: "pipefusion", peer: "next", x: name, dims, stage: from },
    recv: { op: "recv", axis: "pipefusion", peer: "prev", out: name, dims, stage: from + 1 },
  };
}

function latentView(shape: readonly number[]): Dims4 {
  if (shape.length !== 5) throw new Error(`the latent is [${shape.join(", ")}], not [samples, channels, frames, height, width]`);
  const [samples, channels, frames, height, width] = shape as [number, number, number, number, number];
  return [samples * channels * frames, height, width, 1];
}

/** The last stage sends a band's latent rows round the ring; stage 0 receives them into its latent. */
export function latentRing(latent: string, shape: readonly number[], rows: LatentRows, stages: number): { send: OpInit; recv: OpInit } {
  const dims = latentView(shape);
  const slice = { dim: 1, first: rows.first, count: rows.count };
  return {
    send: { op: "send", axis: "pipefusion", peer: "next", x: latent, dims, slice, stage: stages - 1, latentRing: true },
    recv: { op: "recv", axis: "pipefusion", peer: "prev", out: latent, dims, slice, stage: 0, latentRing: true },
  };
}
