import type { Rule } from "../../context.js";
import { MLP_BLOCK_KINDS } from "./support.js";

/** Every MLP broadcast step index must be a step of the schedule: below `scheduler.steps`. */
export const MlpBroadcastStepRule: Rule = {
  name: "MlpBroadcastStepRule",
  check(ctx) {
    const mlp = ctx.spec.acceleration?.pab?.mlp;
    if (!mlp) return;
    const steps = ctx.spec.scheduler.steps;
    for (const kind of MLP_BLOCK_KINDS) {
      const m = mlp[kind];
      if (!m) continue;
      const valid = m.steps.filter((s) => s < steps);
      const fallback = Math.max(0, steps - 1 - m.reuse);
      const fixed = `[${(valid.length > 0 ? valid : [fallback]).join(", ")}]`;
      m.steps.forEach((step, i) => {
        if (step < steps) return;
        ctx.report({
          code: "OD3205",
          at: `/acceleration/pab/mlp/${kind}/steps/${i}`,
          message: `\`acceleration.pab.mlp.${kind}.steps\` lists step ${step}, but the ${ctx.spec.scheduler.kind} scheduler runs ${steps} step${steps === 1 ? "" : "s"} (indices 0 to ${steps - 1}).`,
          hint: `Step indices count from 0 (the first step) to ${steps - 1}: \`steps: ${fixed}\`.`,
          suggestions: [fixed],
        });
      });
    }
  },
};
