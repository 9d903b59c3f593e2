import type { CheckContext, Rule } from "../../context.js";
import { sequencesOf, validLayouts } from "../../layouts.js";
import { alternatives, nearest, reportInLayout, termOf, termText } from "./support.js";

/** A `pipefusion` axis in the layout and the `parallel.pipefusion` settings come together. */
export const PipeFusionSettingsRule: Rule = {
  name: "PipeFusionSettingsRule",
  check(ctx) {
    const parallel = ctx.spec.parallel;
    if (!parallel) return;
    const term = termOf(ctx, "pipefusion");
    const axis = term !== undefined && term.degree > 1;

    if (axis && parallel.pipefusion === undefined) {
      const settings = `pipefusion: { patches: ${defaultPatches(ctx, term.degree)}, warmup: ${Math.min(1, ctx.spec.scheduler.steps)} }`;
      reportInLayout(ctx, term.range, {
        code: "OD3109",
        message: `\`${termText(term)}\` runs a patch pipeline over ${term.degree} stages, but \`parallel\` has no \`pipefusion\` settings (its patches and warm-up steps).`,
        hint: `Add \`${settings}\` under \`parallel\`.`,
      });
      return;
    }

    // Without a parsed layout (one that does not parse) the axis is unknown: the layout's own error stands.
    const layoutKnown = parallel.layout === undefined || ctx.facts.layout !== undefined;
    if (!axis && parallel.pipefusion !== undefined && layoutKnown) {
      const withAxis = validLayouts(ctx.spec, ctx.facts, ctx.facts.world)
        .filter((l) => l.includes("pipefusion"))
        .slice(0, 3);
      const written = term ? ` (\`${termText(term)}\` runs no pipeline)` : "";
      ctx.report({
        code: "OD3109",
        at: "/parallel/pipefusion",
        part: "key",
        message: `\`parallel.pipefusion\` sets PipeFusion's patches and warm-up, but the layout has no \`pipefusion\` axis${written}.`,
        hint: alternatives([
          ...withAxis.map((l) => `set \`layout: ${l}\``),
          "remove the `pipefusion` settings to run without a patch pipeline",
        ]),
      });
    }
  },
};

/** A patch count that splits the token rows evenly, nearest one patch per stage (xDiT's default). */
function defaultPatches(ctx: CheckContext, stages: number): number {
  const seq = sequencesOf(ctx.facts.geometry);
  if (!seq) return stages;
  const band = ctx.facts.degrees.ulysses * ctx.facts.degrees.ring;
  const fits: number[] = [];
  for (let p = 1; p <= Math.min(seq.rows, 1024); p++) if (seq.rows % (p * band) === 0) fits.push(p);
  return nearest(fits, stages, 1)[0] ?? stages;
}
