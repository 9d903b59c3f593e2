import type { Pointer } from "../../../../grammar/source-tree.js";
import { DEFAULT_OVERLAP, DEFAULT_TILE } from "../../../lower/decode/settings.js";
import type { CheckContext, Rule } from "../../context.js";
import { nearestMultiples, orList } from "../model/support.js";

/** The latent pixels one image pixel is: tiles are whole latent pixels. */
const FACTOR = 8;

function report(ctx: CheckContext, at: Pointer, message: string, hint: string, suggestions: readonly (string | number)[]): void {
  ctx.report({ code: "OD3315", at, message, hint, suggestions: suggestions.map(String) });
}

/** `vae.tiling`'s tile and overlap are multiples of 8 pixels, the overlap below the tile, and the tile no larger than the image. */
export const VaeTilingRule: Rule = {
  name: "VaeTilingRule",
  check(ctx) {
    const tiling = ctx.spec.vae?.tiling;
    if (tiling === undefined || typeof tiling === "boolean") return;
    const tile = tiling.tile ?? DEFAULT_TILE;
    const overlap = tiling.overlap ?? DEFAULT_OVERLAP;
    const tileAt = tiling.tile !== undefined ? "/vae/tiling/tile" : "/vae/tiling";
    const overlapAt = tiling.overlap !== undefined ? "/vae/tiling/overlap" : "/vae/tiling";
    let sizesOk = true;
    for (const [what, value, at, min] of [
      ["tile", tile, tileAt, FACTOR],
      ["overlap", overlap, overlapAt, 0],
    ] as const) {
      if (value % FACTOR === 0) continue;
      sizesOk = false;
      const near = nearestMultiples(value, FACTOR, min, 16384);
      report(
        ctx,
        at,
        `\`vae.tiling.${what}\` is ${value} pixels, not a multiple of ${FACTOR}: tiles are cut in whole latent pixels (the VAE's ${FACTOR} pixels each).`,
        `Use ${orList(near.map((n) => `${what}: ${n}`))}.`,
        near,
      );
    }
    if (!sizesOk) return;
    if (overlap >= tile) {
      // A quarter of the tile at most, as diffusers' tiling shares (a multiple of 8).
      const fit = Math.floor(tile / 4 / FACTOR) * FACTOR;
      report(
        ctx,
        overlapAt,
        `\`vae.tiling.overlap\` is ${overlap} pixels${tiling.overlap === undefined ? " (the default)" : ""}, not smaller than the ${tile}-pixel tile: neighbouring tiles would not advance.`,
        `Use an overlap below the tile, such as \`overlap: ${fit}\`.`,
        [fit],
      );
    }
    const size = ctx.facts.size;
    if (!size || tiling.tile === undefined) return;
    const longest = Math.max(size.height, size.width);
    if (tile <= longest) return;
    const fit = Math.floor(longest / FACTOR) * FACTOR;
    report(
      ctx,
      tileAt,
      `\`vae.tiling.tile\` is ${tile} pixels, larger than the ${size.height}x${size.width} image: one tile would hold it all, so tiling does nothing.`,
      `Use a tile of at most ${fit} pixels, or \`tiling: false\` to decode whole frames.`,
      [fit],
    );
  },
};
