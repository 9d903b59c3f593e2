import type { Rule } from "../../context.js";
import { code, DEFAULT_TEXT_ENCODER, TEXT_ENCODER_CHANNELS } from "./support.js";

/** The text side must fit the family: a text encoder only where there is text, producing the channels the model reads, and a negative prompt only where guidance uses it. */
export const TextEncoderRule: Rule = {
  name: "TextEncoderRule",
  check(ctx) {
    const { family, hyper } = ctx.facts;
    const cond = ctx.spec.conditioning;
    if (!family || !cond) return;

    if (family.conditioning !== "text") {
      if (cond.text_encoder !== undefined) {
        ctx.report({
          code: "OD3309",
          at: "/conditioning/text_encoder",
          part: "key",
          message: `\`conditioning.text_encoder\` is ${code(cond.text_encoder)}, but ${family.title} has no text input for it to encode.`,
          hint: "Remove `text_encoder`.",
        });
      }
      return;
    }

    if (cond.negative_prompt !== undefined) {
      const { guidance } = ctx.facts;
      let why: string | undefined;
      if (family.uncond === "null-caption") {
        why = `${family.title} guides against its stored null caption (\`y_embedding\`), as the reference does, so the negative prompt is never encoded`;
      } else if (family.uncond === "none") {
        why = `${family.title} runs no unconditional branch, so there is nothing for the negative prompt to steer`;
      } else if (guidance <= 1) {
        why = `\`scheduler.guidance\` is ${guidance}, which runs no unconditional branch, so the negative prompt is never used`;
      }
      if (why !== undefined) {
        ctx.report({
          code: "OD3309",
          severity: "warning",
          at: "/conditioning/negative_prompt",
          part: "key",
          message: `\`conditioning.negative_prompt\` is ignored: ${why}.`,
          hint: family.uncond === "negative-prompt" ? "Remove `negative_prompt`, or set `guidance` above 1 (such as `guidance: 7.5`)." : "Remove `negative_prompt`.",
        });
      }
    }

    // Explicit `hyper.caption_channels` is checked by HyperConsistencyRule; here, what a named variant reads. The
    // encoder encodes the prompts, and a negative prompt that guidance uses (also next to an embeddings file).
    if (!hyper || ctx.spec.model.hyper !== undefined) return;
    const negativeEncoded = cond.negative_prompt !== undefined && family.uncond === "negative-prompt" && ctx.facts.guidance > 1;
    if (cond.prompts === undefined && !negativeEncoded) return;
    const encoder = cond.text_encoder ?? DEFAULT_TEXT_ENCODER;
    const produced = TEXT_ENCODER_CHANNELS[encoder];
    if (hyper.captionChannels === produced) return;
    const variant = code(ctx.spec.model.variant ?? Object.keys(family.variants)[0] ?? family.family);
    const reads = `${family.title}, variant ${variant}, reads ${hyper.captionChannels}-channel caption features`;
    const features = (name: string): string => `\`${name}\` [1, ${hyper.textTokens}, ${hyper.captionChannels}]`;
    if (cond.prompts !== undefined) {
      ctx.report({
        code: "OD3309",
        ...(cond.text_encoder !== undefined ? { at: "/conditioning/text_encoder" } : { at: "/conditioning/prompts", part: "key" as const }),
        message: `The prompts are encoded by ${code(encoder)} into ${produced} channels per token, but ${reads}.`,
        hint:
          `Replace \`prompts\` with precomputed features, \`conditioning: { embeddings: FILE }\`: a safetensors file holding ` +
          `${features("y")} and \`mask\` [1, ${hyper.textTokens}] of one sample.`,
      });
      return;
    }
    ctx.report({
      code: "OD3309",
      at: "/conditioning/negative_prompt",
      part: "key",
      message: `The negative prompt is encoded by ${code(encoder)} into ${produced} channels per token, but ${reads}.`,
      hint: `Remove \`negative_prompt\` and store its precomputed features as ${features("negative_y")} in the \`embeddings\` file.`,
    });
  },
};
