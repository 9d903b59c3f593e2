import type { Rule } from "../../context.js";
import { exampleSize, sizeSection } from "./support.js";

/** Video families take a `video` size and image families an `image` size, never the other. */
export const SizeKindRule: Rule = {
  name: "SizeKindRule",
  check(ctx) {
    const { family } = ctx.facts;
    if (!family) return;
    const { spec } = ctx;
    const right = family.kind;
    const wrong = right === "video" ? "image" : "video";
    const given = spec[right];
    const other = spec[wrong];
    const what = right === "video" ? "a video model" : "an image model";

    if (other) {
      const fix = given
        ? `Remove the \`${wrong}\` section; the \`${right}\` section already gives the size.`
        : `Write the size as \`${sizeSection(family, other.height, other.width)}\`.`;
      ctx.report({
        code: "OD3304",
        at: `/${wrong}`,
        part: "key",
        message: `${family.title} is ${what}, so it takes a \`${right}\` size, not \`${wrong}\`.`,
        hint: fix,
        ...(given ? {} : { suggestions: [sizeSection(family, other.height, other.width)] }),
      });
      return;
    }
    if (!given) {
      const { height, width } = exampleSize(family);
      ctx.report({
        code: "OD3304",
        at: "/model/family",
        message: `${family.title} is ${what}, but the pipeline has no \`${right}\` section giving its size.`,
        hint: `Add \`${sizeSection(family, height, width)}\`.`,
        suggestions: [sizeSection(family, height, width)],
      });
    }
  },
};
