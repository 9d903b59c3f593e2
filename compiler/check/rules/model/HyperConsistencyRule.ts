import type { Rule } from "../../context.js";
import { candidates, code, DEFAULT_TEXT_ENCODER, nearestValid, orList, TEXT_ENCODER_CHANNELS, VAE_LATENT_CHANNELS, vaeInForce } from "./support.js";

/** Explicit hyperparameters must fit together: heads divide the hidden size, and every field given is one the family reads and its encoder and VAE produce. */
export const HyperConsistencyRule: Rule = {
  name: "HyperConsistencyRule",
  check(ctx) {
    const { family } = ctx.facts;
    const hyper = ctx.spec.model.hyper;
    if (!family || !hyper) return;
    const { hidden, heads } = hyper;
    const rope = family.rope ?? [];

    const headsFit = (h: number): boolean => hidden % h === 0 && (rope.length === 0 || (hidden / h) % 2 === 0);
    const headHints = (): { hint: string; suggestions: string[] } => {
      const near = candidates(nearestValid(heads, headsFit, 1, hidden));
      const hint =
        near.length > 0
          ? `Use ${orList(near.map((h) => `heads: ${h}`))} (head size ${near.map((h) => hidden / h).join(" or ")}).`
          : `Use \`heads: 1\`, or a hidden size that is a multiple of ${rope.length > 0 ? 2 * heads : heads}.`;
      return { hint, suggestions: near.map(String) };
    };

    if (hidden % heads !== 0) {
      ctx.report({
        code: "OD3303",
        at: "/model/hyper/heads",
        message: `\`model.hyper.hidden\` ${hidden} is not divisible by \`heads\` ${heads}, so the head size ${hidden} / ${heads} = ${Number((hidden / heads).toFixed(2))} is not a whole number.`,
        ...headHints(),
      });
    } else if (rope.length > 0 && (hidden / heads) % 2 !== 0) {
      ctx.report({
        code: "OD3303",
        at: "/model/hyper/heads",
        message: `The head size \`hidden / heads\` = ${hidden} / ${heads} = ${hidden / heads} is odd, but ${family.title} rotates interleaved channel pairs of the ${rope.join(" and ")} attention heads (RoPE), which needs an even head size.`,
        ...headHints(),
      });
    }

    const text = family.conditioning === "text";
    const unread = (key: "caption_channels" | "text_tokens" | "num_classes" | "patch_t", why: string): void => {
      if (hyper[key] === undefined) return;
      ctx.report({
        code: "OD3303",
        at: `/model/hyper/${key}`,
        part: "key",
        message: `\`model.hyper.${key}\` is given, but ${family.title} ${why}, so the value would be ignored.`,
        hint: `Remove \`${key}: ${String(hyper[key])}\` from \`hyper\`.`,
      });
    };
    if (!text) {
      unread("caption_channels", "has no text cross-attention");
      unread("text_tokens", "has no text cross-attention");
    } else {
      unread("num_classes", "is conditioned on text, not on class labels");
    }
    if (family.kind === "image") unread("patch_t", "is an image model with no time axis to patch");

    const cond = ctx.spec.conditioning;
    if (text && hyper.caption_channels !== undefined && cond?.prompts !== undefined) {
      const encoder = cond.text_encoder ?? DEFAULT_TEXT_ENCODER;
      const produced = TEXT_ENCODER_CHANNELS[encoder];
      if (hyper.caption_channels !== produced) {
        ctx.report({
          code: "OD3303",
          at: "/model/hyper/caption_channels",
          message: `\`model.hyper.caption_channels\` is ${hyper.caption_channels}, but the prompts are encoded by ${code(encoder)}, which produces ${produced} channels per token.`,
          hint: `Use \`caption_channels: ${produced}\`, or give precomputed \`conditioning.embeddings\` with ${hyper.caption_channels} channels instead of prompts.`,
          suggestions: [String(produced)],
        });
      }
    }

    const vae = vaeInForce(ctx.spec, family);
    if (hyper.in_channels !== undefined && vae !== "none") {
      const latent = VAE_LATENT_CHANNELS[vae];
      if (hyper.in_channels !== latent) {
        ctx.report({
          code: "OD3303",
          at: "/model/hyper/in_channels",
          message: `\`model.hyper.in_channels\` is ${hyper.in_channels}, but the VAE ${code(vae)} decodes latents of ${latent} channels.`,
          hint: `Use \`in_channels: ${latent}\`, or set \`vae: { kind: none }\` to keep the latents undecoded.`,
          suggestions: [String(latent)],
        });
      }
    }
  },
};
