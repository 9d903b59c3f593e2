import type { Rule } from "../../context.js";
import { ATTENTION_KINDS, windowText } from "./support.js";

/** `every 1` recomputes the attention at every step, so a window with it reuses nothing. */
export const PabEveryOneRule: Rule = {
  name: "PabEveryOneRule",
  check(ctx) {
    for (const kind of ATTENTION_KINDS) {
      const w = ctx.facts.windows[kind];
      if (!w || w.kind !== "window" || w.every !== 1) continue;
      const fixed = windowText(2, w.low, w.high);
      ctx.report({
        code: "OD3204",
        at: `/acceleration/pab/${kind}`,
        range: w.everyRange,
        message: `\`acceleration.pab.${kind}\` recomputes \`every 1\` step, so inside [${w.low}, ${w.high}] every step still computes ${kind} attention and the window has no effect.`,
        hint: `Reuse on every other step with \`${kind}: ${fixed}\` (VideoSys uses 2 for spatial, 4 for temporal, 6 for cross), or write \`${kind}: off\`.`,
        suggestions: [fixed, "off"],
      });
    }
  },
};
