/**
 * unpatchify (compiler/plan/ops.ts UnpatchifyOp; models.md §0.5) on one rank: a copy, exact in float64.
 *
 * Every element of out [samples, C, latent.frames, rows, latent.width] is read from its token's features, in
 * (kt, kh, kw, c) order with the channel fastest:
 *   out[s, c, t·pt + kt, h·ph + kh, w·pw + kw] = x[s, token(t, h, w), ((kt·ph + kh)·pw + kw)·C + c]
 * Only latent positions are written, so what the grid holds past the latent is cropped. The tokens of x are
 * frame by frame: with `padded`, each sample has padded.frames frames of padded.tokens positions (position
 * h·cols + w; padding rows are never read); with `band`, every frame holds only the band's token rows
 * [index·rows/count, (index + 1)·rows/count) and out only the latent rows they cover, from
 * index·(rows/count)·ph, cropped to latent.height; otherwise the grid's frames of rows·cols positions.
 */
import type { UnpatchifyOp } from "../../../compiler/plan/ops.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

function where(op: UnpatchifyOp): string {
  return `op ${op.id} (unpatchify)`;
}

function need(op: UnpatchifyOp, what: string, values: Float64Array, count: number): void {
  if (values.length < count) throw new Error(`${where(op)}: ${what} holds ${values.length} values, fewer than the ${count} it needs`);
}

export const runUnpatchify: OpRunner<UnpatchifyOp> = (op: UnpatchifyOp, mem: Memory): void => {
  const { channels: C, grid, patch, latent } = op;
  const { t: pt, h: ph, w: pw } = patch;
  const F = pt * ph * pw * C;
  if (op.padded && op.band) throw new Error(`${where(op)}: a row band of a padded token layout is not defined`);
  if (grid.frames * pt < latent.frames || grid.rows * ph < latent.height || grid.cols * pw < latent.width) {
    throw new Error(`${where(op)}: the token grid ${grid.frames}x${grid.rows}x${grid.cols} does not cover the latent in patches`);
  }
  let bandRows = grid.rows;
  let firstTokenRow = 0;
  if (op.band) {
    if (grid.rows % op.band.count !== 0) throw new Error(`${where(op)}: ${grid.rows} token rows do not split into ${op.band.count} bands`);
    bandRows = grid.rows / op.band.count;
    firstTokenRow = op.band.index * bandRows;
  }
  const firstRow = firstTokenRow * ph;
  const rows = Math.min(latent.height, firstRow + bandRows * ph) - firstRow;
  // Positions per frame in x, and how a token (h, w) is found among them.
  const perFrame = op.padded ? op.padded.tokens : bandRows * grid.cols;
  const framesIn = op.padded ? op.padded.frames : grid.frames;
  const x = f64(mem, op.x);
  const out = f64(mem, op.out);
  need(op, `x \`${op.x}\``, x, op.samples * framesIn * perFrame * F);
  need(op, `out \`${op.out}\``, out, op.samples * C * latent.frames * rows * latent.width);

  let o = 0;
  for (let s = 0; s < op.samples; s++) {
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < latent.frames; t++) {
        const tg = Math.floor(t / pt);
        const kt = t % pt;
        for (let y = 0; y < rows; y++) {
          const h = Math.floor((firstRow + y) / ph);
          const kh = (firstRow + y) % ph;
          for (let xw = 0; xw < latent.width; xw++, o++) {
            const w = Math.floor(xw / pw);
            const kw = xw % pw;
            const token = (s * framesIn + tg) * perFrame + (h - firstTokenRow) * grid.cols + w;
            out[o] = x[token * F + ((kt * ph + kh) * pw + kw) * C + c]!;
          }
        }
      }
    }
  }
};
