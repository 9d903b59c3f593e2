import type { Rule } from "../../context.js";
import { validLayouts } from "../../layouts.js";
import { alternatives, orList, reportInLayout, termOf, termText } from "./support.js";

/** The cfg degree is 2: one rank group for the conditional half and one for the unconditional half. */
export const CfgDegreeRule: Rule = {
  name: "CfgDegreeRule",
  check(ctx) {
    const term = termOf(ctx, "cfg");
    if (!term || term.degree === 2) return;
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 5);
    const fixes = [
      term.degree === 1 ? "drop the `cfg 1` term, which splits nothing" : "write `cfg 2`",
      ...(layouts.length > 0 ? [`use a layout for ${ctx.facts.world} ranks such as ${orList(layouts)}`] : []),
    ];
    reportInLayout(ctx, term.degreeRange, {
      code: "OD3107",
      message: `\`${termText(term)}\` has degree ${term.degree}, but CFG parallel has exactly two halves to place (conditional and unconditional): its degree is 2.`,
      hint: alternatives(fixes),
      suggestions: term.degree === 1 ? [] : ["2"],
    });
  },
};
