/**
 * Open-Sora-Plan's LatteT2V-XL/122 (models.md §6): the Latte-1 step program (latte-t2v.ts) with the code base's
 * own temporal position table. Everything else (diffusers block names, adaLN-single, cross-attention to 300 T5
 * tokens with the negative prompt "" as the unconditional input, the final layer) is Latte-1's.
 *
 * The table is emb1d(D, frame / s) over the latent frames L, and Open-Sora-Plan adds it at block 0 whatever L
 * is (no single-frame exception). s follows v1.1's `modeling_latte.py`: (L − 1) // 16 for odd L, L // 16 for
 * even L, at least 1 (17 latent frames → 1, 56 → 3). v1.0 checkpoints used max(L // 5, 1) instead; the family
 * record does not tell the two releases apart, so the plan follows v1.1, the release VideoSys accelerates and
 * the one pipelines/opensora-plan-pab.yaml runs.
 */
import { latteT2VLowering } from "./latte-t2v.js";
import type { FamilyLowering } from "./lowering.js";

/** Open-Sora-Plan v1.1's temporal `interpolation_scale_1d` for L latent frames. */
export function openSoraPlanTemporalScale(frames: number): number {
  const s = frames % 2 === 1 ? Math.floor((frames - 1) / 16) : Math.floor(frames / 16);
  return Math.max(s, 1);
}

export const lowerOpenSoraPlan: FamilyLowering = latteT2VLowering({
  scale: (frames) => 1 / openSoraPlanTemporalScale(frames),
  singleFrame: true,
});
