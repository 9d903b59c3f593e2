import type { Rule } from "../../context.js";
import { missingConsequence, missingPath, missingSeverity } from "./support.js";

/** Input files the pipeline reads, `conditioning.embeddings` and `noise`, must exist, relative to the pipeline file. */
export const InputFilesPresentRule: Rule = {
  name: "InputFilesPresentRule",
  check(ctx) {
    const severity = missingSeverity(ctx);
    const embeddings = ctx.spec.conditioning?.embeddings;
    if (embeddings !== undefined) {
      const absolute = missingPath(ctx, embeddings);
      if (absolute !== undefined) {
        ctx.report({
          code: "OD3504",
          at: "/conditioning/embeddings",
          severity,
          message: `\`conditioning.embeddings\` names \`${embeddings}\`, which does not exist (looked for \`${absolute}\`); ${missingConsequence(ctx)}.`,
          hint: "Write a safetensors file with `y` [1, L, C] and `mask` [1, L] (the model's text tokens and caption channels) at that path, or give `prompts: [\"...\"]` instead, to encode them with T5-XXL on the rank.",
        });
      }
    }
    const noise = ctx.spec.noise;
    if (noise !== undefined) {
      const absolute = missingPath(ctx, noise);
      if (absolute !== undefined) {
        ctx.report({
          code: "OD3504",
          at: "/noise",
          severity,
          message: `\`noise\` names \`${noise}\`, which does not exist (looked for \`${absolute}\`); ${missingConsequence(ctx)}.`,
          hint: `Remove \`noise\` to draw the initial noise from \`seed: ${ctx.spec.seed ?? 0}\`, or write a safetensors file with the tensor \`noise\` at that path.`,
        });
      }
    }
  },
};
