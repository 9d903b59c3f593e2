import type { Rule } from "../../context.js";

const PROMPT_EXAMPLE = `conditioning: { prompts: ["a red panda eating bamboo in a forest"] }`;

/** The conditioning must be what the family reads: prompts or embeddings for text models, labels for class models. */
export const ConditioningKindRule: Rule = {
  name: "ConditioningKindRule",
  check(ctx) {
    const { family, hyper } = ctx.facts;
    if (!family) return;
    const cond = ctx.spec.conditioning;
    // Where to point when something is missing: the conditioning section, else the family that needs it.
    const missingAt = cond ? { at: "/conditioning", part: "key" as const } : { at: "/model/family" };

    if (family.conditioning === "text") {
      if (cond?.prompts !== undefined && cond.embeddings !== undefined) {
        ctx.report({
          code: "OD3307",
          at: "/conditioning/embeddings",
          part: "key",
          message: `\`conditioning\` gives both \`prompts\` and \`embeddings\`, but ${family.title} reads one text encoding per sample, from one of them.`,
          hint: "Remove `embeddings` to encode the prompts, or remove `prompts` to use the precomputed features.",
        });
      } else if (cond?.prompts === undefined && cond?.embeddings === undefined) {
        ctx.report({
          code: "OD3307",
          ...missingAt,
          message: `${family.title} is conditioned on text, but \`conditioning\` has neither \`prompts\` nor an \`embeddings\` file.`,
          hint: `Add \`${PROMPT_EXAMPLE}\`.`,
        });
      }
      if (cond?.labels !== undefined) {
        ctx.report({
          code: "OD3307",
          at: "/conditioning/labels",
          part: "key",
          message: `${family.title} is conditioned on text, so \`conditioning.labels\` (class labels) cannot be used.`,
          hint: `Replace \`labels\` with prompts, such as \`prompts: ["a red panda eating bamboo in a forest"]\`.`,
        });
      }
      return;
    }

    // Class-conditional families, some of whose checkpoints are unconditional.
    const unconditional = hyper !== undefined && hyper.numClasses === 0;
    const labelled = Object.entries(family.variants).find(([, v]) => family.resolve(v).numClasses > 0)?.[0];
    let textGiven = false;
    for (const key of ["prompts", "embeddings", "negative_prompt"] as const) {
      if (cond?.[key] === undefined) continue;
      textGiven = true;
      ctx.report({
        code: "OD3307",
        at: `/conditioning/${key}`,
        part: "key",
        message: `${family.title} has no text input, so \`conditioning.${key}\` cannot be used${family.conditioning === "class-or-none" ? "; it is conditioned on class labels or on nothing" : "; it is conditioned on class labels"}.`,
        hint: unconditional || family.conditioning === "class-or-none" ? `Remove \`${key}\`.` : `Replace \`${key}\` with class labels, such as \`labels: [0]\`.`,
      });
    }
    if (cond?.labels !== undefined && unconditional) {
      ctx.report({
        code: "OD3307",
        at: "/conditioning/labels",
        part: "key",
        message: `This ${family.family} model is unconditional (it has no class embedder), so \`conditioning.labels\` cannot be used.`,
        hint: labelled !== undefined ? `Remove \`labels\`, or use the class-conditional \`variant: ${labelled}\`.` : "Remove `labels`.",
        ...(labelled !== undefined ? { suggestions: [`variant: ${labelled}`] } : {}),
      });
    }
    if (family.conditioning === "class" && cond?.labels === undefined && !textGiven) {
      const top = hyper && hyper.numClasses > 0 ? hyper.numClasses - 1 : undefined;
      ctx.report({
        code: "OD3307",
        ...missingAt,
        message: `${family.title} is conditioned on class labels, but \`conditioning\` has no \`labels\`.`,
        hint: `Add \`conditioning: { labels: [0] }\`${top !== undefined ? ` (one class id from 0 to ${top} per sample)` : ""}.`,
      });
    }
  },
};
