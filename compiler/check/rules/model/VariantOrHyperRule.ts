import type { Rule } from "../../context.js";

/** A model names exactly one of `variant` and `hyper`. */
export const VariantOrHyperRule: Rule = {
  name: "VariantOrHyperRule",
  check(ctx) {
    const { model } = ctx.spec;
    const { family } = ctx.facts;
    const first = family ? Object.keys(family.variants)[0] : undefined;
    if (model.variant !== undefined && model.hyper !== undefined) {
      ctx.report({
        code: "OD3302",
        at: "/model/hyper",
        part: "key",
        message: `\`model\` names both \`variant: ${model.variant}\` and explicit \`hyper\`parameters; it must name exactly one of them.`,
        hint: `Remove the \`hyper\` section to use the ${model.variant} sizes, or remove \`variant\` to use these hyperparameters.`,
      });
      return;
    }
    if (model.variant === undefined && model.hyper === undefined) {
      ctx.report({
        code: "OD3302",
        at: "/model",
        part: "key",
        message: `\`model\` names neither a \`variant\` nor explicit \`hyper\`parameters, so the model's size is unknown.`,
        hint:
          first !== undefined
            ? `Add \`variant: ${first}\` to \`model\` (the default size of \`${model.family}\`), or a \`hyper\` section.`
            : "Add a `variant` naming one of the family's sizes, or a `hyper` section with `hidden`, `depth` and `heads`.",
        ...(first !== undefined ? { suggestions: [`variant: ${first}`] } : {}),
      });
    }
  },
};
