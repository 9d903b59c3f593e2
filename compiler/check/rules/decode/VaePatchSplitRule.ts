import { decodeGroupSize, decodeSettings } from "../../../lower/decode/settings.js";
import type { Rule } from "../../context.js";
import { formatLayout } from "../../layouts.js";
import { orList } from "../model/support.js";

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/** `vae.parallel: patch` splits each frame's latent rows evenly over the ranks that hold the same samples, and combines with neither tiling nor PipeFusion. */
export const VaePatchSplitRule: Rule = {
  name: "VaePatchSplitRule",
  check(ctx) {
    if (ctx.spec.vae?.parallel !== "patch") return;
    const settings = decodeSettings(ctx.spec, ctx.facts);
    const geometry = ctx.facts.geometry;
    if (!settings || !geometry) return;
    const { degrees } = ctx.facts;
    const at = "/vae/parallel";
    if (settings.tiling) {
      ctx.report({
        code: "OD3316",
        at,
        message: "`vae.parallel: patch` and `vae.tiling` do not combine: a rank decodes either its band of every frame's rows or whole tiles.",
        hint: "Remove `tiling` to split the rows over the ranks, or write `parallel: none` to decode tiles on one rank.",
        suggestions: ["none"],
      });
      return;
    }
    if (degrees.pipefusion > 1) {
      ctx.report({
        code: "OD3316",
        at,
        message: "`vae.parallel: patch` needs the final latent on every rank of a group, but under PipeFusion only the last pipeline stage holds it.",
        hint: "Write `parallel: none`: the last stage decodes whole frames (or tiles, with `tiling`).",
        suggestions: ["none"],
      });
      return;
    }
    const parts = decodeGroupSize(degrees);
    const rows = geometry.latentHeight;
    if (parts <= 1 || rows % parts === 0) return;
    // Heights whose latent rows divide by the ranks and still fit the family's pixel divisor.
    const { family, hyper } = ctx.facts;
    const divisor = family && hyper ? Math.max(1, family.pixelDivisor(hyper) / 8) : 1;
    const step = lcm(parts, Number.isInteger(divisor) ? divisor : 1);
    const heights = [Math.floor(rows / step) * step, Math.ceil(rows / step) * step].filter((h) => h > 0).map((h) => h * 8);
    const layout = formatLayout(Object.fromEntries(Object.entries(degrees).filter(([axis]) => axis !== "dp")));
    ctx.report({
      code: "OD3316",
      at,
      message: `\`vae.parallel: patch\` splits each frame's ${rows} latent rows over the ${parts} ranks holding the same samples (\`${layout}\`), but ${rows} does not divide by ${parts}.`,
      hint: `Write \`parallel: none\` (one rank decodes whole frames), \`tiling: true\` with \`parallel: none\` to bound its memory, or use a height of ${orList(heights.map((h) => `${h}`))} pixels.`,
      suggestions: ["none"],
    });
  },
};
