import { decodeSettings } from "../../../lower/decode/settings.js";
import type { Rule } from "../../context.js";
import { vaeOr } from "../decode/support.js";
import { missingConsequence, missingSeverity } from "./support.js";

/** Where the official weights of each decoded VAE are published (models.md §10.1). */
const OFFICIAL: Readonly<Record<string, string>> = {
  "sd-vae-ft-ema": "stabilityai/sd-vae-ft-ema",
  "sd-vae-ft-mse": "stabilityai/sd-vae-ft-mse",
  "sdxl-vae": "stabilityai/sdxl-vae",
};

/** A run that decodes pixels needs `vae.checkpoint` (a file, or `random`): a warning in validate, an error in run, like a missing checkpoint file. */
export const VaeCheckpointRule: Rule = {
  name: "VaeCheckpointRule",
  check(ctx) {
    const settings = decodeSettings(ctx.spec, ctx.facts);
    if (!settings || settings.checkpoint !== undefined) return;
    const official = OFFICIAL[settings.vae];
    ctx.report({
      code: "OD3506",
      at: vaeOr(ctx.spec, "checkpoint"),
      ...(ctx.spec.vae ? { part: "key" as const } : {}),
      severity: missingSeverity(ctx),
      message: `The output asks for pixels, so the ${settings.vae} decoder runs after denoising, but \`vae.checkpoint\` names no weights; ${missingConsequence(ctx)}.`,
      hint: `Add \`checkpoint: random\` for a smoke run with seeded random weights, or the path of the ${settings.vae} weights${official ? ` (${official}, diffusers or original LDM names)` : ""} relative to this file.`,
      suggestions: ["random"],
    });
  },
};
