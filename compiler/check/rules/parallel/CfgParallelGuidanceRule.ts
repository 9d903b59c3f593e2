import type { Rule } from "../../context.js";
import { hasNullInput, validLayouts } from "../../layouts.js";
import { alternatives, orList, reportInLayout, termOf, termText } from "./support.js";

/** A cfg axis needs guidance above 1, or there is no unconditional branch to place on its ranks. */
export const CfgParallelGuidanceRule: Rule = {
  name: "CfgParallelGuidanceRule",
  check(ctx) {
    const term = termOf(ctx, "cfg");
    const { family, guidance } = ctx.facts;
    // A family without a null input is CfgParallelFamilyRule's to report, whatever the guidance.
    if (!term || term.degree === 1 || !family || !hasNullInput(ctx.spec, family) || guidance > 1) return;
    const source = ctx.spec.scheduler.guidance !== undefined ? "`scheduler.guidance`" : `the default of ${family.title}`;
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 5);
    const fixes = [
      `set \`guidance\` under \`scheduler\` above 1 (${family.title} uses ${family.defaults.guidance > 1 ? family.defaults.guidance : 4})`,
      layouts.length > 0 ? `drop \`${termText(term)}\` and use ${orList(layouts)} for ${ctx.facts.world} ranks` : `drop \`${termText(term)}\``,
    ];
    reportInLayout(ctx, term.range, {
      code: "OD3105",
      message: `\`${termText(term)}\` runs the unconditional branch of guidance on its own ranks, but guidance is ${guidance} (${source}), so no unconditional branch runs.`,
      hint: alternatives(fixes),
      suggestions: layouts,
    });
  },
};
