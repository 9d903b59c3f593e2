import type { Rule } from "../../context.js";
import { code, orList } from "./support.js";

type Field = "frames" | "height" | "width";

/** A named official checkpoint should run at a size it was trained at. */
export const UntrainedResolutionRule: Rule = {
  name: "UntrainedResolutionRule",
  check(ctx) {
    const { family, size } = ctx.facts;
    const { model } = ctx.spec;
    const variant = model.variant;
    const trained = family?.trainedSizes ?? [];
    // Only official weights have training sizes: not explicit hyperparameters, tiny test variants or random weights.
    if (!family || !size || variant === undefined || model.hyper !== undefined || trained.length === 0) return;
    if (!Object.prototype.hasOwnProperty.call(family.variants, variant) || variant.toLowerCase().endsWith("-tiny")) return;
    if (family.officialWeights && !Object.prototype.hasOwnProperty.call(family.officialWeights, variant)) return;
    if (model.checkpoint === "random") return;

    const video = family.kind === "video";
    const mismatches = (t: (typeof trained)[number]): Field[] => {
      const out: Field[] = [];
      if (video && t.frames !== undefined && t.frames !== size.frames) out.push("frames");
      if (t.height !== size.height) out.push("height");
      if (t.width !== size.width) out.push("width");
      return out;
    };
    const scored = trained.map((t) => ({ t, off: mismatches(t) }));
    if (scored.some((s) => s.off.length === 0)) return;
    const area = (t: { height: number; width: number }) => Math.abs(t.height * t.width - size.height * size.width);
    scored.sort((a, b) => a.off.length - b.off.length || area(a.t) - area(b.t));
    const best = scored[0]!;

    const section = family.kind;
    const text = (t: (typeof trained)[number]): string =>
      video ? `${section}: { frames: ${t.frames ?? size.frames}, height: ${t.height}, width: ${t.width} }` : `${section}: { height: ${t.height}, width: ${t.width} }`;
    const shown = (t: (typeof trained)[number]): string => `${video && t.frames !== undefined ? `${t.frames} frames of ` : ""}${t.height}x${t.width}`;
    const single = best.off.length === 1 ? best.off[0] : undefined;
    const asked = `${video ? `${size.frames} frames of ` : ""}${size.height}x${size.width}`;

    ctx.report({
      code: "OD3313",
      ...(single !== undefined ? { at: `/${section}/${single}` } : { at: `/${section}`, part: "key" as const }),
      message: `The ${code(variant)} checkpoint was trained at ${orList(trained.map(shown))} (height x width), not at ${asked}; samples at other sizes may be poor.`,
      hint: `Use \`${text(best.t)}\`, or keep this size if you accept the risk.`,
      suggestions:
        single !== undefined
          ? [...new Set(scored.filter((s) => s.off.length === 1 && s.off[0] === single).map((s) => String(s.t[single] ?? size[single])))]
          : scored.map((s) => text(s.t)),
    });
  },
};
