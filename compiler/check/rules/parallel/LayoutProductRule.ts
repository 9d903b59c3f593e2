import type { Rule } from "../../context.js";
import { rankCount, validLayouts } from "../../layouts.js";
import { orList, reportInLayout, termText } from "./support.js";

/** The layout's degrees multiply to `parallel.world`, and a world of more than one rank has a layout. */
export const LayoutProductRule: Rule = {
  name: "LayoutProductRule",
  check(ctx) {
    const parallel = ctx.spec.parallel;
    if (!parallel) return;
    const world = parallel.world;
    const layouts = validLayouts(ctx.spec, ctx.facts, world).slice(0, 5);

    if (parallel.layout === undefined) {
      if (world <= 1) return;
      ctx.report({
        code: "OD3101",
        at: "/parallel/world",
        message: `\`world: ${world}\` runs ${world} ranks, but \`parallel\` has no \`layout\` saying how they split the work.`,
        hint:
          layouts.length > 0
            ? `Add \`layout: ${layouts[0]}\` under \`parallel\`; layouts that fit ${world} ranks are ${orList(layouts)}.`
            : `No layout of ${world} ranks fits this pipeline; set \`world: 1\`, or a world size whose factors fit the model (such as 2 or 4).`,
      });
      return;
    }

    const layout = ctx.facts.layout;
    if (!layout) return;
    const product = rankCount(ctx.facts.degrees);
    if (product === world) return;
    const written = layout.terms.map(termText);
    const factors = layout.terms.length > 1 ? ` (${layout.terms.map((t) => t.degree).join(" x ")})` : "";
    const setWorld = `set \`world: ${product}\``;
    reportInLayout(ctx, layout.range, {
      code: "OD3101",
      message: `The layout \`${written.join(" x ")}\` uses ${product} rank${product === 1 ? "" : "s"}${factors}, but \`world\` is ${world}.`,
      hint:
        layouts.length > 0
          ? `Use a layout for ${world} ranks: ${orList(layouts)}; or ${setWorld}.`
          : world <= 1
            ? `${setWorld[0]!.toUpperCase()}${setWorld.slice(1)}, or remove the layout to run on one rank.`
            : `No layout of ${world} ranks fits this pipeline; ${setWorld}.`,
      suggestions: layouts,
    });
  },
};
