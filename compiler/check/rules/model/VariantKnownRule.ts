import { suggest } from "../../../../diagnostics/did-you-mean.js";
import type { Rule } from "../../context.js";
import { andList, code, orList } from "./support.js";

/** `model.variant` must name one of the family's variants. */
export const VariantKnownRule: Rule = {
  name: "VariantKnownRule",
  check(ctx) {
    const { family } = ctx.facts;
    const variant = ctx.spec.model.variant;
    if (!family || variant === undefined) return;
    const names = Object.keys(family.variants);
    if (Object.prototype.hasOwnProperty.call(family.variants, variant)) return;
    const close = suggest(variant, names);
    const mean = close.length > 0 ? ` Did you mean ${orList(close)}?` : "";
    ctx.report({
      code: "OD3301",
      at: "/model/variant",
      message: `\`model.variant\` is ${code(variant)}, which is not a variant of ${family.title}.${mean}`,
      hint: `Use \`variant: ${close[0] ?? names[0] ?? variant}\`; the variants of \`${family.family}\` are ${andList(names)}.`,
      suggestions: close.length > 0 ? close : names,
    });
  },
};
