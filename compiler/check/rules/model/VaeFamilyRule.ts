import type { Rule } from "../../context.js";
import { code, orList } from "./support.js";

/** `vae.kind` must be a VAE whose latent space the family was trained in, or `none`. */
export const VaeFamilyRule: Rule = {
  name: "VaeFamilyRule",
  check(ctx) {
    const { family } = ctx.facts;
    const kind = ctx.spec.vae?.kind;
    if (!family || kind === undefined || kind === "none" || family.vaes.includes(kind)) return;
    ctx.report({
      code: "OD3310",
      at: "/vae/kind",
      message: `\`vae.kind\` is ${code(kind)}, but ${family.title} was trained in the latent space of ${orList(family.vaes)}; decoding its latents with another VAE gives garbage.`,
      hint: `Use \`kind: ${family.defaults.vae}\` (the family default), or \`kind: none\` to keep the latents.`,
      suggestions: [family.defaults.vae, ...family.vaes.filter((v) => v !== family.defaults.vae)],
    });
  },
};
