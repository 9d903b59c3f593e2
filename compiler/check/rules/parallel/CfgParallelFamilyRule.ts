import type { Rule } from "../../context.js";
import { validLayouts } from "../../layouts.js";
import { alternatives, modelName, orList, reportInLayout, termOf, termText } from "./support.js";

/** A cfg axis needs a model with an unconditional branch: a null input, and labels for a class-or-none family. */
export const CfgParallelFamilyRule: Rule = {
  name: "CfgParallelFamilyRule",
  check(ctx) {
    const term = termOf(ctx, "cfg");
    const { family } = ctx.facts;
    if (!term || term.degree === 1 || !family) return;
    const noNull = family.uncond === "none";
    const unlabelled = !noNull && family.conditioning === "class-or-none" && ctx.spec.conditioning?.labels === undefined;
    if (!noNull && !unlabelled) return;
    const why = noNull
      ? `${modelName(ctx)} has no unconditional branch (no null caption or null class) to run on the cfg ranks`
      : `${modelName(ctx)} runs unconditionally without \`conditioning.labels\`, so there is no unconditional branch to split off`;
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 5);
    const fixes = [
      layouts.length > 0 ? `drop \`${termText(term)}\` and use ${orList(layouts)} for ${ctx.facts.world} ranks` : `drop \`${termText(term)}\``,
      ...(unlabelled ? ["give `labels` under `conditioning` to guide a class-conditional run"] : []),
    ];
    reportInLayout(ctx, term.range, {
      code: "OD3106",
      message: `\`${termText(term)}\` splits guidance's conditional and unconditional halves, but ${why}.`,
      hint: alternatives(fixes),
      suggestions: layouts,
    });
  },
};
