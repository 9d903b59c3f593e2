import type { Rule } from "../../context.js";
import { isSpatialTemporal, validLayouts } from "../../layouts.js";
import { alternatives, modelName, orList, reportInLayout, termOf, termText } from "./support.js";

/** A dsp axis needs a spatial-temporal (video) model, whose attention alternates between frames and positions. */
export const DspFamilyRule: Rule = {
  name: "DspFamilyRule",
  check(ctx) {
    const term = termOf(ctx, "dsp");
    const { family } = ctx.facts;
    if (!term || term.degree === 1 || !family || isSpatialTemporal(family)) return;
    const sequence = [`ulysses ${term.degree}`, `ring ${term.degree}`];
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 5);
    reportInLayout(ctx, term.range, {
      code: "OD3108",
      message:
        `\`${termText(term)}\` switches between sharding frames and sharding spatial positions, but ${modelName(ctx)} is ` +
        `${family.kind === "image" ? "an image model" : "a model"} without temporal attention.`,
      hint: alternatives([
        `shard the token sequence instead with ${orList(sequence)}`,
        ...(layouts.length > 0 ? [`use a layout for ${ctx.facts.world} ranks such as ${orList(layouts)}`] : []),
      ]),
      suggestions: sequence,
    });
  },
};
