import type { Rule } from "../../context.js";
import { divisors } from "../../layouts.js";
import { alternatives, orList, reportInLayout, termOf, termText } from "./support.js";

/** Data-parallel groups each take their share of the inputs, so the prompts (or labels) divide by the dp degree. */
export const DataParallelInputsRule: Rule = {
  name: "DataParallelInputsRule",
  check(ctx) {
    const term = termOf(ctx, "dp");
    const c = ctx.spec.conditioning;
    if (!term || term.degree === 1 || !c || c.embeddings !== undefined) return;
    const [count, noun] = c.prompts ? [c.prompts.length, "prompt"] : c.labels ? [c.labels.length, "label"] : [undefined, ""];
    if (count === undefined || count % term.degree === 0) return;
    const key = `${noun}s`;
    const fewer = divisors(count).filter((d) => d > 1 && d < term.degree);
    const next = Math.ceil(count / term.degree) * term.degree;
    reportInLayout(ctx, term.range, {
      code: "OD3114",
      message:
        `\`${termText(term)}\` gives each of ${term.degree} data-parallel groups its own share of the inputs, but the ` +
        `${count} ${count === 1 ? noun : key} do not split evenly over ${term.degree} groups, and every group runs the same static program on an equal share.`,
      hint: alternatives([
        `give ${next} ${key} under \`conditioning\` (a multiple of ${term.degree})`,
        ...(fewer.length > 0 ? [`use ${orList(fewer.map((d) => `dp ${d}`))} and give the other ranks to another axis`] : []),
      ]),
      suggestions: fewer.map((d) => `dp ${d}`),
    });
  },
};
