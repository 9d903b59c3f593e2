import { rflowRatio } from "../../../schedule/timesteps.js";
import type { Rule } from "../../context.js";

/** Rectified flow with Open-Sora 1.2's timestep transform needs a frame count whose transform ratio is not 0 (1 frame, or 17 and more). */
export const RflowFramesRule: Rule = {
  name: "RflowFramesRule",
  check(ctx) {
    const s = ctx.spec.scheduler;
    const size = ctx.facts.size;
    if (s.kind !== "rflow" || s.timestep_transform === false || !size) return;
    if (rflowRatio(size) > 0) return;
    ctx.report({
      code: "OD3405",
      at: "/video/frames",
      message:
        `Rectified flow's timestep transform scales by sqrt(frames // 17 × 5), which is 0 for ${size.frames} frames: ` +
        "every timestep would collapse to 0 (the first to 0/0), as in Open-Sora 1.2's own sampler.",
      hint: "Use 17 frames or more (Open-Sora 1.2 samples 51 or 102), or set `timestep_transform: false`.",
    });
  },
};
