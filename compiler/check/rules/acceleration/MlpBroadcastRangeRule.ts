import type { Rule } from "../../context.js";
import { MLP_BLOCK_KINDS } from "./support.js";

/** An MLP output kept at step s is reused on steps s+1 .. s+reuse, which must all exist: s + reuse <= steps - 1. */
export const MlpBroadcastRangeRule: Rule = {
  name: "MlpBroadcastRangeRule",
  check(ctx) {
    const mlp = ctx.spec.acceleration?.pab?.mlp;
    if (!mlp) return;
    const steps = ctx.spec.scheduler.steps;
    const last = steps - 1;
    for (const kind of MLP_BLOCK_KINDS) {
      const m = mlp[kind];
      if (!m) continue;
      m.steps.forEach((step, i) => {
        // A step past the schedule is MlpBroadcastStepRule's to report.
        if (step > last || step + m.reuse <= last) return;
        const reuses = m.reuse === 1 ? `step ${step + 1}` : `steps ${step + 1} to ${step + m.reuse}`;
        const shorter = last - step;
        const latest = last - m.reuse;
        const options: string[] = [];
        if (shorter >= 1) options.push(`\`reuse: ${shorter}\``);
        if (latest >= 0) options.push(`keeping it at step ${latest} or earlier`);
        ctx.report({
          code: "OD3207",
          at: `/acceleration/pab/mlp/${kind}/steps/${i}`,
          message: `\`acceleration.pab.mlp.${kind}\` keeps the MLP output at step ${step} and reuses it on ${reuses} (\`reuse: ${m.reuse}\`), but the last step is ${last}.`,
          hint:
            options.length > 0
              ? `Stay inside the schedule: ${options.join(", or ")}.`
              : `Remove step ${step}: it is the last step, so nothing follows it to reuse its output.`,
          ...(shorter >= 1 ? { suggestions: [`reuse: ${shorter}`] } : {}),
        });
      });
    }
  },
};
