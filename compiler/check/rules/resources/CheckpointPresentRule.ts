import type { VaeKind } from "../../../spec/schema.js";
import type { Rule } from "../../context.js";
import { missingConsequence, missingPath, missingSeverity } from "./support.js";

/** Where the official weights of each VAE kind are published (models.md §10). */
const VAE_WEIGHTS: Readonly<Record<VaeKind, string | undefined>> = {
  "sd-vae-ft-ema": "stabilityai/sd-vae-ft-ema",
  "sd-vae-ft-mse": "stabilityai/sd-vae-ft-mse",
  "sdxl-vae": "stabilityai/sdxl-vae",
  "opensora-vae-v1.2": "hpcai-tech/OpenSora-VAE-v1.2",
  "causalvae-4x8x8": "the `vae` folder of LanguageBind/Open-Sora-Plan-v1.1.0",
  none: undefined,
};

/** `model.checkpoint` (unless `random`) and `vae.checkpoint` must name files that exist, relative to the pipeline file. */
export const CheckpointPresentRule: Rule = {
  name: "CheckpointPresentRule",
  check(ctx) {
    const severity = missingSeverity(ctx);
    const model = ctx.spec.model;
    if (model.checkpoint !== "random") {
      const absolute = missingPath(ctx, model.checkpoint);
      if (absolute !== undefined) {
        const variant = model.variant ?? (ctx.facts.family ? Object.keys(ctx.facts.family.variants)[0] : undefined);
        const table = ctx.facts.family?.officialWeights;
        const official = variant !== undefined && table !== undefined && Object.hasOwn(table, variant) ? table[variant] : undefined;
        const source = official
          ? `download the official ${variant} weights (${official}), convert them to .safetensors and give their path relative to this file`
          : "give the path of the weights (.safetensors) relative to this file";
        ctx.report({
          code: "OD3501",
          at: "/model/checkpoint",
          severity,
          message: `\`model.checkpoint\` names \`${model.checkpoint}\`, which does not exist (looked for \`${absolute}\`); ${missingConsequence(ctx)}.`,
          hint: `Write \`checkpoint: random\` for a smoke run with seeded random weights, or ${source}.`,
          suggestions: ["random"],
        });
      }
    }
    const vae = ctx.spec.vae;
    if (vae?.checkpoint !== undefined && vae.checkpoint !== "random") {
      const absolute = missingPath(ctx, vae.checkpoint);
      if (absolute !== undefined) {
        const official = VAE_WEIGHTS[vae.kind];
        const source = official
          ? `download the ${vae.kind} weights (${official}) as .safetensors and give their path relative to this file`
          : "give the path of the VAE weights (.safetensors) relative to this file";
        ctx.report({
          code: "OD3501",
          at: "/vae/checkpoint",
          severity,
          message: `\`vae.checkpoint\` names \`${vae.checkpoint}\`, which does not exist (looked for \`${absolute}\`); ${missingConsequence(ctx)}.`,
          hint: `Write \`checkpoint: random\` for a smoke run, or ${source}.`,
          suggestions: ["random"],
        });
      }
    }
  },
};
