import { DECODED_VAES, decodes } from "../../../models/vae/index.js";
import { decodeVaeKind } from "../../../lower/decode/settings.js";
import type { Rule } from "../../context.js";
import { code, orList } from "../model/support.js";
import { vaeOr } from "./support.js";

/** Pixel outputs need a VAE whose decoder opendit lowers: the SD-VAE family, not Open-Sora 1.2's VAE or CausalVAE. */
export const VaeDecoderRule: Rule = {
  name: "VaeDecoderRule",
  check(ctx) {
    const { family } = ctx.facts;
    if (!family) return;
    const kind = decodeVaeKind(ctx.spec, family);
    if (kind === undefined || decodes(kind)) return;
    // The VaeFamilyRule already refuses a VAE outside the family's latent space.
    if (!family.vaes.includes(kind)) return;
    const named = ctx.spec.vae?.kind !== undefined;
    ctx.report({
      code: "OD3314",
      at: vaeOr(ctx.spec, "kind"),
      message:
        `${named ? "`vae.kind` is" : `${family.title} decodes with`} ${code(kind)}, which opendit does not decode yet (its temporal decoder is not lowered; ` +
        `the decode covers ${orList(DECODED_VAES)}): this pipeline can write latents only.`,
      hint: "Write `formats: [latents]` and decode the latents with the reference implementation, or `vae: { kind: none }` to keep latents only.",
      suggestions: ["none"],
    });
  },
};
