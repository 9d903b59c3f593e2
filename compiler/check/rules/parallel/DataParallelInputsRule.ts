import type { Rule } from "../../context.js";
import { divisors } from "../../layouts.js";
import { alternatives, orList, reportInLayout, termOf, termText } from "./support.js";

/**
 * Data-parallel groups each take their share of the inputs, so the prompts (or labels) divide by the dp degree.
 * An embeddings file holds one sample (lowering's sampleCount), which no dp degree above 1 splits.
 */
export const DataParallelInputsRule: Rule = {
  name: "DataParallelInputsRule",
  check(ctx) {
    const term = termOf(ctx, "dp");
    const c = ctx.spec.conditioning;
    if (!term || term.degree === 1 || !c) return;
    if (c.embeddings !== undefined) {
      // With prompts as well, ConditioningKindRule reports the conflict; there is no one count to check.
      if (c.prompts !== undefined) return;
      reportInLayout(ctx, term.range, {
        code: "OD3114",
        message:
          `\`${termText(term)}\` gives each of ${term.degree} data-parallel groups its own share of the inputs, but the ` +
          "`conditioning.embeddings` file holds the features of one sample, which does not split over " +
          `${term.degree} groups, and every group runs the same static program on an equal share.`,
        hint: `Remove \`${termText(term)}\` and give its ranks to another axis; an embeddings file runs one sample.`,
      });
      return;
    }
    const [count, noun] = c.prompts ? [c.prompts.length, "prompt"] : c.labels ? [c.labels.length, "label"] : [undefined, ""];
    if (count === undefined || count % term.degree === 0) return;
    const key = `${noun}s`;
    const fewer = divisors(count).filter((d) => d > 1 && d < term.degree);
    const next = Math.ceil(count / term.degree) * term.degree;
    reportInLayout(ctx, term.range, {
      code: "OD3114",
      message:
        `\`${termText(term)}\` gives each of ${term.degree} data-parallel groups its own share of the inputs, but the ` +
        `${count} ${count === 1 ? `${noun} does` : `${key} do`} not split evenly over ${term.degree} groups, and every group runs the same static program on an equal share.`,
      hint: alternatives([
        `give ${next} ${key} under \`conditioning\` (a multiple of ${term.degree})`,
        ...(fewer.length > 0 ? [`use ${orList(fewer.map((d) => `dp ${d}`))} and give the other ranks to another axis`] : []),
      ]),
      suggestions: fewer.map((d) => `dp ${d}`),
    });
  },
};
