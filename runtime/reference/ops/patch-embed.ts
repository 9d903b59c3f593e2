/**
 * patch_embed (compiler/plan/ops.ts PatchEmbedOp; models.md §0.4) on one rank, in float64.
 *
 * The latent x [inputSamples, C, T, H, W] is read as zero-padded at the end of each axis up to the token grid
 * in patches. Token (t, h, w) of batch sample j (reading x's sample j mod inputSamples) is
 *   out[d] = bias[d] + Σ weight[d, ((c·pt + kt)·ph + kh)·pw + kw] · x[c, t·pt + kt, h·ph + kh, w·pw + kw]
 * (the weight read as [hidden, C·pt·ph·pw]: a Conv3d [D, C, pt, ph, pw] or, with pt = 1, a Conv2d).
 *
 * Which tokens, in which order: each sample's rows are its local tokens frame by frame, positions (h·cols + w)
 * ascending within a frame. The layout has `padded.frames` frames of `padded.tokens` positions when padded
 * (grid positions first, the rest written as zero rows without bias), else the grid's frames of rows·cols
 * positions. A `band` keeps, in every frame, the positions of its token rows [index·rows/count,
 * (index + 1)·rows/count). A `frames` shard keeps the rank's run of frames, a `tokens` shard the rank's run of
 * each frame's (or the band's) positions; the rank's index r along the shard's axis comes from mem.rank.coords
 * (for `sequence`, the USP block, r = ulysses + U·ring as in the mesh's innermost-first order).
 */
import type { PatchEmbedOp } from "../../../compiler/plan/ops.js";
import type { Shard } from "../../../compiler/plan/types.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

function where(op: PatchEmbedOp): string {
  return `op ${op.id} (patch_embed)`;
}

function need(op: PatchEmbedOp, what: string, values: Float64Array, count: number): void {
  if (values.length < count) throw new Error(`${where(op)}: ${what} holds ${values.length} values, fewer than the ${count} it needs`);
}

function coordinate(mem: Memory, axis: string): number {
  return mem.rank.coords[axis] ?? 0;
}

function degree(mem: Memory, axis: string): number {
  return mem.plan.mesh.axes.find((a) => a.name === axis)?.degree ?? 1;
}

/** The rank's index among the `parts` of a shard. */
function shardIndex(op: PatchEmbedOp, mem: Memory, shard: Shard): number {
  const r =
    shard.axis === "sequence"
      ? coordinate(mem, "dsp") + degree(mem, "dsp") * (coordinate(mem, "ulysses") + degree(mem, "ulysses") * coordinate(mem, "ring"))
      : coordinate(mem, shard.axis);
  if (!Number.isInteger(r) || r < 0 || r >= shard.parts) throw new Error(`${where(op)}: the rank's ${shard.axis} coordinate ${r} is not one of the shard's ${shard.parts} parts`);
  return r;
}

/** A run [first, first + count) of `total` split into `parts` equal runs: run `index`. */
function part(op: PatchEmbedOp, what: string, total: number, parts: number, index: number): { first: number; count: number } {
  if (total % parts !== 0) throw new Error(`${where(op)}: ${total} ${what} do not split into ${parts} equal parts`);
  const count = total / parts;
  return { first: index * count, count };
}

export const runPatchEmbed: OpRunner<PatchEmbedOp> = (op: PatchEmbedOp, mem: Memory): void => {
  const { channels: C, latent, patch, grid, hidden } = op;
  const { t: pt, h: ph, w: pw } = patch;
  const K = C * pt * ph * pw;
  const x = f64(mem, op.x);
  const weight = f64(mem, op.weight);
  const bias = f64(mem, op.bias);
  const out = f64(mem, op.out);
  const latentPlane = latent.frames * latent.height * latent.width;
  need(op, `x \`${op.x}\``, x, op.inputSamples * C * latentPlane);
  need(op, `weight \`${op.weight}\``, weight, hidden * K);
  need(op, `bias \`${op.bias}\``, bias, hidden);
  if (op.inputSamples < 1 || op.samples % op.inputSamples !== 0) throw new Error(`${where(op)}: ${op.samples} samples do not repeat ${op.inputSamples} input samples`);
  if (op.padded && op.band) throw new Error(`${where(op)}: a row band of a padded token layout is not defined`);

  // The layout's frames and positions per frame, then the band's and the shard's parts of them.
  let frames = { first: 0, count: op.padded?.frames ?? grid.frames };
  let positions = { first: 0, count: op.padded?.tokens ?? grid.rows * grid.cols };
  if (op.band) {
    const rows = part(op, "token rows", grid.rows, op.band.count, op.band.index);
    positions = { first: rows.first * grid.cols, count: rows.count * grid.cols };
  }
  if (op.shard) {
    const r = shardIndex(op, mem, op.shard);
    if (op.shard.dim === "frames") frames = part(op, "token frames", frames.count, op.shard.parts, r);
    else {
      const run = part(op, "positions per frame", positions.count, op.shard.parts, r);
      positions = { first: positions.first + run.first, count: run.count };
    }
  }
  const tokens = frames.count * positions.count;
  need(op, `out \`${op.out}\``, out, op.samples * tokens * hidden);

  const patchValues = new Float64Array(K);
  for (let j = 0; j < op.samples; j++) {
    const sample = x.subarray((j % op.inputSamples) * C * latentPlane, (j % op.inputSamples + 1) * C * latentPlane);
    let row = j * tokens;
    for (let ft = frames.first; ft < frames.first + frames.count; ft++) {
      for (let n = positions.first; n < positions.first + positions.count; n++, row++) {
        const o = row * hidden;
        if (ft >= grid.frames || n >= grid.rows * grid.cols) {
          for (let d = 0; d < hidden; d++) out[o + d] = 0;
          continue;
        }
        const th = Math.floor(n / grid.cols);
        const tw = n % grid.cols;
        // The patch, flattened (c, kt, kh, kw); positions past the latent are the zero padding.
        let k = 0;
        for (let c = 0; c < C; c++) {
          for (let kt = 0; kt < pt; kt++) {
            const t = ft * pt + kt;
            for (let kh = 0; kh < ph; kh++) {
              const y = th * ph + kh;
              for (let kw = 0; kw < pw; kw++, k++) {
                const xw = tw * pw + kw;
                const inside = t < latent.frames && y < latent.height && xw < latent.width;
                patchValues[k] = inside ? sample[((c * latent.frames + t) * latent.height + y) * latent.width + xw]! : 0;
              }
            }
          }
        }
        for (let d = 0; d < hidden; d++) {
          let sum = bias[d]!;
          const w = d * K;
          for (let m = 0; m < K; m++) sum += weight[w + m]! * patchValues[m]!;
          out[o + d] = sum;
        }
      }
    }
  }
};
