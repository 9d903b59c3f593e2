import type { Rule } from "../../context.js";
import { blockCount, divisors } from "../../layouts.js";
import { alternatives, modelName, nearest, orList, reportInLayout, termOf, termText } from "./support.js";

/** PipeFusion has at most one stage per block (spatial and temporal blocks of interleaved families count apart). */
export const PipeFusionStagesRule: Rule = {
  name: "PipeFusionStagesRule",
  check(ctx) {
    const term = termOf(ctx, "pipefusion");
    const { family, hyper } = ctx.facts;
    if (!term || !family || !hyper) return;
    const blocks = blockCount(family, hyper);
    if (term.degree <= blocks) return;
    const counted = family.blocks === "interleaved" ? ` (${hyper.depth} spatial and ${hyper.depth} temporal)` : "";
    const choices = nearest(
      divisors(Math.max(ctx.facts.world, 1)).filter((d) => d > 1 && d <= blocks),
      term.degree,
      5,
    ).map((d) => `pipefusion ${d}`);
    reportInLayout(ctx, term.range, {
      code: "OD3112",
      message: `\`${termText(term)}\` asks for ${term.degree} pipeline stages, but ${modelName(ctx)} has only ${blocks} blocks${counted} to split among them.`,
      hint: alternatives([
        `use at most \`pipefusion ${blocks}\`${choices.length > 0 ? `, such as ${orList(choices)}` : ""}, and give the other ranks to another axis`,
      ]),
      suggestions: choices,
    });
  },
};
