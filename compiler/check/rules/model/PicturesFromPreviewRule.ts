import { hasLatentPreview } from "../../../models/vae/latent-preview.js";
import type { Rule } from "../../context.js";
import { code, vaeInForce } from "./support.js";

/** Picture formats with `vae: none` write the linear latent preview, not a decode, where the family's latents have one. */
export const PicturesFromPreviewRule: Rule = {
  name: "PicturesFromPreviewRule",
  check(ctx) {
    const { family } = ctx.facts;
    const formats = ctx.spec.output?.formats;
    if (!family || !formats || vaeInForce(ctx.spec, family) !== "none" || !hasLatentPreview(family.defaults.vae)) return;
    formats.forEach((format, i) => {
      if (format === "latents") return;
      // A video format on an image family is OutputFormatsRule's error.
      if ((format === "gif" || format === "mp4") && family.kind === "image") return;
      ctx.report({
        code: "OD3319",
        at: `/output/formats/${i}`,
        message: `Output format ${code(format)} with \`vae.kind\` \`none\` writes the linear latent preview of the final latents (their colours approximated, one pixel per latent pixel), not a VAE decode.`,
        hint: `Set \`vae: { kind: ${family.defaults.vae} }\` for decoded pixels.`,
      });
    });
  },
};
