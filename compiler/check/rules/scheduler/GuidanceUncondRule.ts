import type { Rule } from "../../context.js";
import { hasUncondBranch } from "../../facts.js";
import { code } from "../model/support.js";

/** Guidance above 1 needs an unconditional branch: a family that has one and, for optionally labelled models, labels. */
export const GuidanceUncondRule: Rule = {
  name: "GuidanceUncondRule",
  check(ctx) {
    const { family, hyper } = ctx.facts;
    const guidance = ctx.spec.scheduler.guidance;
    if (!family || guidance === undefined || guidance <= 1 || hasUncondBranch(family, hyper, ctx.spec)) return;
    let why: string;
    let fix: string;
    if (family.uncond === "none") {
      why = `${family.title} has no unconditional branch to guide against`;
      fix = "Use `guidance: 1`.";
    } else if (hyper !== undefined && hyper.numClasses === 0) {
      const labelled = Object.entries(family.variants).find(([, v]) => family.resolve(v).numClasses > 0)?.[0];
      why = `this ${family.family} model is unconditional (it has no class embedder), so there is no null class to guide against`;
      fix = labelled !== undefined ? `Use \`guidance: 1\`, or the class-conditional \`variant: ${labelled}\` with \`conditioning: { labels: [0] }\`.` : "Use `guidance: 1`.";
    } else {
      why = `without \`conditioning.labels\` the samples are unconditional, so there is no conditional branch to contrast with the null class`;
      fix = "Use `guidance: 1` for unconditional samples, or add `conditioning: { labels: [0] }` to condition on a class.";
    }
    ctx.report({
      code: "OD3403",
      at: "/scheduler/guidance",
      message: `\`scheduler.guidance\` is ${code(guidance)}, which asks for classifier-free guidance, but ${why}.`,
      hint: fix,
      suggestions: ["1"],
    });
  },
};
