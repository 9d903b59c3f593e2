import type { Rule } from "../../context.js";

/** `output.preview_every` at most the sampler's steps: a larger N is never reached, so no preview is written during the run. */
export const PreviewEveryStepsRule: Rule = {
  name: "PreviewEveryStepsRule",
  check(ctx) {
    const every = ctx.spec.output?.preview_every;
    const steps = ctx.spec.scheduler.steps;
    if (every === undefined || every <= steps) return;
    // About four previews over the run, or one after the last step.
    const quarter = Math.max(1, Math.floor(steps / 4));
    const fixes = [...new Set([quarter, steps])];
    const previews = (n: number): string => (n === steps ? "after the last step only" : `${Math.floor(steps / n)} previews`);
    ctx.report({
      code: "OD3317",
      at: "/output/preview_every",
      message: `\`output.preview_every\` is ${every}, but the ${ctx.spec.scheduler.kind} scheduler runs ${steps} step${steps === 1 ? "" : "s"}: no preview is written during the run (the final latents' pictures are written as \`formats\` asks).`,
      hint: `Use ${fixes.map((n) => `\`preview_every: ${n}\` (${previews(n)})`).join(" or ")}, or remove \`preview_every\`.`,
      suggestions: fixes.map(String),
    });
  },
};
