import type { Rule } from "../../context.js";
import { reportInLayout, termOf, termText } from "./support.js";

/**
 * PipeFusion is lowered with cfg, dp and ulysses beside it; a ring or dsp axis, or PAB, would need per-band
 * caches the lowering does not build (compiler/lower/pipefusion/settings.ts), so they are refused here.
 */
export const PipeFusionCombinationRule: Rule = {
  name: "PipeFusionCombinationRule",
  check(ctx) {
    const pipe = termOf(ctx, "pipefusion");
    if (!pipe || pipe.degree === 1) return;
    for (const axis of ["ring", "dsp"] as const) {
      const term = termOf(ctx, axis);
      if (!term || term.degree === 1) continue;
      reportInLayout(ctx, term.range, {
        code: "OD3116",
        message: `\`${termText(term)}\` cannot run beside \`${termText(pipe)}\`: a ${axis === "ring" ? "ring rank's K/V chunk" : "DSP frame shard"} does not map onto PipeFusion's row bands, so this combination is not lowered.`,
        hint: `Use \`ulysses ${term.degree}\` for the sequence inside each stage, or drop \`${termText(pipe)}\`.`,
      });
    }
    const pab = ctx.spec.acceleration?.pab;
    const kinds = (["spatial", "temporal", "cross"] as const).filter((k) => pab?.[k] !== undefined && pab[k]!.trim() !== "off");
    if (kinds.length > 0 || pab?.mlp !== undefined) {
      reportInLayout(ctx, pipe.range, {
        code: "OD3116",
        message: `\`${termText(pipe)}\` with PAB is not lowered: a reused attention output would have to be kept per row band and per phase.`,
        hint: "Remove `acceleration.pab`, or use a sequence-parallel layout (dsp, ulysses) with PAB.",
      });
    }
  },
};
