import type { Rule } from "../../context.js";

/** PipeFusion's synchronous warm-up steps do not exceed the sampler's steps. */
export const PipeFusionWarmupRule: Rule = {
  name: "PipeFusionWarmupRule",
  check(ctx) {
    const settings = ctx.spec.parallel?.pipefusion;
    const steps = ctx.spec.scheduler.steps;
    if (!settings || settings.warmup <= steps) return;
    ctx.report({
      code: "OD3110",
      at: "/parallel/pipefusion/warmup",
      message: `\`warmup: ${settings.warmup}\` asks for more synchronous warm-up steps than the sampler's ${steps} steps.`,
      hint: `Set \`warmup\` to at most ${steps} (\`warmup: ${steps}\` never starts the patch pipeline; a small number such as 1 is usual).`,
      suggestions: [...new Set([String(Math.min(1, steps)), String(steps)])],
    });
  },
};
