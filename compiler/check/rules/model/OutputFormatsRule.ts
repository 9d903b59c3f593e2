import { hasLatentPreview } from "../../../models/vae/latent-preview.js";
import type { Rule } from "../../context.js";
import { code, vaeInForce } from "./support.js";

/** Video formats need a video family, and every picture format needs a VAE to decode the latents (or latents with a linear preview). */
export const OutputFormatsRule: Rule = {
  name: "OutputFormatsRule",
  check(ctx) {
    const { family } = ctx.facts;
    const formats = ctx.spec.output?.formats;
    if (!family || !formats) return;
    const vae = vaeInForce(ctx.spec, family);
    formats.forEach((format, i) => {
      const at = `/output/formats/${i}`;
      if ((format === "gif" || format === "mp4") && family.kind === "image") {
        const replacement = formats.includes("png") ? undefined : "png";
        ctx.report({
          code: "OD3311",
          at,
          message: `Output format ${code(format)} writes a video, but ${family.title} makes single images.`,
          hint: replacement ? `Use \`png\` for images.` : `Remove ${code(format)}; \`png\` already writes the images.`,
          ...(replacement ? { suggestions: [replacement] } : {}),
        });
        return;
      }
      // Where the family's latents have a linear preview, PicturesFromPreviewRule says it is written instead.
      if (format !== "latents" && vae === "none" && !hasLatentPreview(family.defaults.vae)) {
        ctx.report({
          code: "OD3311",
          at,
          message: `Output format ${code(format)} needs decoded pixels, but \`vae.kind\` is \`none\`, so only latents are produced.`,
          hint: `Set \`vae: { kind: ${family.defaults.vae} }\` to decode, or write \`formats: [latents]\`.`,
          suggestions: ["latents"],
        });
      }
    });
  },
};
