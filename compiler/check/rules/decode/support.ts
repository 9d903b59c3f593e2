/** Pieces the decode rules share: where a decode problem is shown when the Spec has no `vae` section. */
import type { Pointer } from "../../../../grammar/source-tree.js";
import type { Spec } from "../../../spec/schema.js";

/** The first output format that asks for pixels: what makes the run decode. */
export function pixelFormatAt(spec: Spec): Pointer {
  const i = (spec.output?.formats ?? []).findIndex((f) => f !== "latents");
  return i >= 0 ? `/output/formats/${i}` : "/output";
}

/** `vae.<key>` when the Spec writes it, else the first pixel format. */
export function vaeOr(spec: Spec, key: "kind" | "checkpoint" | "parallel" | "tiling"): Pointer {
  return spec.vae && spec.vae[key] !== undefined ? `/vae/${key}` : spec.vae ? "/vae" : pixelFormatAt(spec);
}
