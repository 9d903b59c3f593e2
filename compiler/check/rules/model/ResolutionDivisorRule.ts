import type { Rule } from "../../context.js";
import { nearestMultiples, orList } from "./support.js";

/** Height and width must be multiples of the family's pixel divisor (the VAE's factor times the patch size). */
export const ResolutionDivisorRule: Rule = {
  name: "ResolutionDivisorRule",
  check(ctx) {
    const { family, hyper, size } = ctx.facts;
    if (!family || !hyper || !size) return;
    const d = family.pixelDivisor(hyper);
    if (d <= 1) return;
    const section = family.kind;
    const why = d === 8 * hyper.patch ? ` (the VAE's 8 pixels per latent times patch size ${hyper.patch})` : "";
    for (const key of ["height", "width"] as const) {
      const value = size[key];
      if (value % d === 0) continue;
      const near = nearestMultiples(value, d, d, 16384);
      ctx.report({
        code: "OD3305",
        at: `/${section}/${key}`,
        message: `\`${section}.${key}\` is ${value}, which is not a multiple of ${d}, the pixel divisor of ${family.title}${why}.`,
        hint: near.length > 0 ? `Use ${orList(near.map((n) => `${key}: ${n}`))}.` : `Use a ${key} that is a multiple of ${d}, or a smaller patch size.`,
        suggestions: near.map(String),
      });
    }
  },
};
