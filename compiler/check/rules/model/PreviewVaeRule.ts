import { PREVIEWED_VAES, hasLatentPreview, latentSpaceVae } from "../../../models/vae/latent-preview.js";
import type { Rule } from "../../context.js";
import { code, orList, vaeInForce } from "./support.js";

/**
 * `output.preview_every` needs latents with a linear preview (models/vae/latent-preview.ts): an SD-VAE's or CausalVAE's, named or, with `vae: none`, the family's.
 */
export const PreviewVaeRule: Rule = {
  name: "PreviewVaeRule",
  check(ctx) {
    const { family } = ctx.facts;
    if (ctx.spec.output?.preview_every === undefined || !family) return;
    const kind = latentSpaceVae(vaeInForce(ctx.spec, family), family.defaults.vae);
    if (hasLatentPreview(kind)) return;
    // The VaeFamilyRule already refuses a VAE outside the family's latent space.
    if (!family.vaes.includes(kind)) return;
    const named = ctx.spec.vae?.kind !== undefined;
    // The family's VAEs that have a preview: with one, the fix is at `vae.kind`; without, only removing the setting.
    const fits = PREVIEWED_VAES.filter((v) => family.vaes.includes(v));
    const why = `${named && ctx.spec.vae?.kind !== "none" ? "`vae.kind` is" : `${family.title} decodes with`} ${code(kind)}, whose latents have no linear preview (its factors are known for ${orList(PREVIEWED_VAES)} latents only)`;
    const atVae = named && fits.length > 0;
    ctx.report({
      code: "OD3318",
      at: atVae ? "/vae/kind" : "/output/preview_every",
      message: `\`output.preview_every\` writes a linear latent preview during the run, but ${why}.`,
      hint:
        fits.length > 0
          ? `Name the VAE the latents are for, ${fits.map((v) => `\`vae: { kind: ${v} }\``).join(" or ")}, or remove \`preview_every\`.`
          : "Remove `preview_every`: the final latents are still written.",
      ...(atVae ? { suggestions: fits.map(String) } : {}),
    });
  },
};
