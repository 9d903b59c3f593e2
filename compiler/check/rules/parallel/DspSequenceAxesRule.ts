import type { Rule } from "../../context.js";
import { degreesOf, formatLayout, layoutProblems, validLayouts } from "../../layouts.js";
import { alternatives, orList, reportInLayout, termOf, termText } from "./support.js";

/** A dsp axis is a sequence axis of its own and does not combine with ulysses or ring. */
export const DspSequenceAxesRule: Rule = {
  name: "DspSequenceAxesRule",
  check(ctx) {
    const dsp = termOf(ctx, "dsp");
    if (!dsp || dsp.degree === 1) return;
    const { degrees } = ctx.facts;
    const merged = degreesOf({ ...degrees, dsp: degrees.dsp * degrees.ulysses * degrees.ring, ulysses: 1, ring: 1 });
    const mergedText = formatLayout(merged);
    const mergedFits = layoutProblems(ctx.spec, ctx.facts, merged).length === 0;
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 5);
    for (const axis of ["ulysses", "ring"] as const) {
      const term = termOf(ctx, axis);
      if (!term || term.degree === 1) continue;
      const fixes = [
        ...(mergedFits ? [`fold the sequence axes into one DSP axis: \`${mergedText}\``] : []),
        `drop \`${termText(term)}\` and give its ranks to another axis`,
        ...(layouts.length > 0 && !mergedFits ? [`use a layout for ${ctx.facts.world} ranks such as ${orList(layouts)}`] : []),
      ];
      reportInLayout(ctx, term.range, {
        code: "OD3115",
        message: `\`${termText(term)}\` cannot combine with \`${termText(dsp)}\`: DSP is a sequence axis of its own, switching the sharded dimension with one all-to-all, and ${axis === "ulysses" ? "Ulysses" : "Ring"} would shard the same sequence again.`,
        hint: alternatives(fixes),
        suggestions: mergedFits ? [mergedText] : layouts,
      });
    }
  },
};
