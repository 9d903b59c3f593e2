import type { Rule } from "../../context.js";
import { divisors, padTo } from "../../layouts.js";
import { modelName, nearest, orList, percent, reportInLayout, termOf, termText } from "./support.js";

/** The Ulysses degree divides the attention heads, unless `parallel.pad_heads` pads them (and the waste is reported). */
export const UlyssesHeadsRule: Rule = {
  name: "UlyssesHeadsRule",
  check(ctx) {
    const term = termOf(ctx, "ulysses");
    const hyper = ctx.facts.hyper;
    if (!term || !hyper) return;
    const heads = hyper.heads;
    const u = term.degree;
    if (heads % u === 0) return;
    const model = modelName(ctx);

    if (ctx.spec.parallel?.pad_heads === true) {
      const padded = padTo(heads, u);
      reportInLayout(ctx, term.range, {
        code: "OD3113",
        message:
          `\`${termText(term)}\` pads the ${heads} attention heads of ${model} to ${padded} with zero heads: ` +
          `${padded - heads} of ${padded} heads (${percent((padded - heads) / padded)} of attention) are computed and thrown away.`,
        hint: noPaddingHint(heads, ctx.facts.world, u),
      });
      return;
    }

    const good = goodDegrees(heads, ctx.facts.world);
    const choices = nearest(good, u, 5);
    reportInLayout(ctx, term.range, {
      code: "OD3102",
      message: `\`${termText(term)}\` does not divide the ${heads} attention heads of ${model}.`,
      hint:
        (choices.length > 0
          ? `Use a Ulysses degree that divides ${heads}: ${orList(choices.map((d) => `ulysses ${d}`))}; `
          : `No Ulysses degree above 1 divides ${heads} heads within ${ctx.facts.world} ranks; use \`ring ${u}\` instead, `) +
        `or set \`pad_heads: true\` under \`parallel\` to pad the heads with zeros.`,
      suggestions: choices.map((d) => `ulysses ${d}`),
    });
  },
};

function noPaddingHint(heads: number, world: number, u: number): string {
  const good = nearest(goodDegrees(heads, world), u, 5);
  return good.length > 0
    ? `A Ulysses degree that divides ${heads} needs no padding: ${orList(good.map((d) => `ulysses ${d}`))}.`
    : `No Ulysses degree above 1 divides ${heads} heads within ${world} ranks; \`ring ${u}\` shards the sequence with no head constraint.`;
}

/** Ulysses degrees above 1 that divide the heads and fit in the world. */
function goodDegrees(heads: number, world: number): number[] {
  return divisors(heads).filter((d) => d > 1 && d <= Math.max(world, 1));
}
