import type { Rule } from "../../context.js";
import { candidates, framesFit, nearestValid, orList } from "./support.js";

/** The frame count must be one the family's VAE can compress in time. */
export const FrameCountRule: Rule = {
  name: "FrameCountRule",
  check(ctx) {
    const { family, size } = ctx.facts;
    if (!family || !size || family.kind !== "video") return;
    const latent = family.latentFrames(size.frames);
    if (typeof latent === "number") return;
    const near = candidates(nearestValid(size.frames, (k) => framesFit(family, k), 1, 4096));
    const reason = latent.replace(/\.$/, "");
    ctx.report({
      code: "OD3306",
      at: "/video/frames",
      message: `\`video.frames\` is ${size.frames}, which ${family.title} cannot take: ${reason}.`,
      hint: near.length > 0 ? `Use ${orList(near.map((n) => `frames: ${n}`))}.` : "Use a frame count the family's VAE accepts.",
      suggestions: near.map(String),
    });
  },
};
