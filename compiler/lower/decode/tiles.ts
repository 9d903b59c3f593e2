/**
 * The tiles of a tiled decode, in latent pixels: along each dimension, tiles of one size start every
 * tile − overlap pixels, and the last starts at the edge (size − tile), so every tile is whole and one program
 * serves them all; a neighbour may then overlap the last by more than `overlap`, which the runtime's linear
 * ramps blend all the same. A dimension no larger than the tile is one tile covering it.
 */
import type { DecodeSplit } from "../../plan/types.js";
import type { DecodeTiling } from "./settings.js";

/** Starts of tiles `tile` wide with at least `overlap` shared, covering [0, size). */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (!(Number.isInteger(size) && Number.isInteger(tile) && Number.isInteger(overlap)) || size < 1 || tile < 1 || overlap < 0) {
    throw new RangeError(`tiles of ${tile} with overlap ${overlap} over ${size} are not whole positive sizes`);
  }
  if (tile >= size) return [0];
  if (overlap >= tile) throw new RangeError(`an overlap of ${overlap} leaves tiles of ${tile} no stride`);
  const stride = tile - overlap;
  const count = Math.ceil((size - overlap) / stride);
  const starts: number[] = [];
  for (let i = 0; i < count - 1; i++) starts.push(i * stride);
  starts.push(size - tile);
  return starts;
}

/** The tiled split of a latent height x width for a tiling given in image pixels (`factor` per latent pixel). */
export function tiledSplit(tiling: DecodeTiling, height: number, width: number, factor: number): Extract<DecodeSplit, { kind: "tiled" }> {
  const tile = tiling.tile / factor;
  const overlap = tiling.overlap / factor;
  if (!Number.isInteger(tile) || !Number.isInteger(overlap)) throw new RangeError(`tile ${tiling.tile} and overlap ${tiling.overlap} are not multiples of ${factor}`);
  const th = Math.min(tile, height);
  const tw = Math.min(tile, width);
  return { kind: "tiled", tile: { height: th, width: tw }, overlap, rows: tileStarts(height, th, overlap), cols: tileStarts(width, tw, overlap) };
}
