import type { Rule } from "../../context.js";

/** Every class label must be one of the model's classes (below `num_classes`; the null class is not a label). */
export const ClassLabelRangeRule: Rule = {
  name: "ClassLabelRangeRule",
  check(ctx) {
    const { family, hyper } = ctx.facts;
    const labels = ctx.spec.conditioning?.labels;
    if (!family || !hyper || !labels || family.conditioning === "text" || hyper.numClasses === 0) return;
    const n = hyper.numClasses;
    const nullNote = family.uncond === "null-class" ? `; ${n} is the null class that guidance uses for the unconditional branch` : "";
    labels.forEach((label, i) => {
      if (label < n) return;
      ctx.report({
        code: "OD3308",
        at: `/conditioning/labels/${i}`,
        message: `Class label ${label} (\`conditioning.labels[${i}]\`) is outside the model's ${n} classes, which are numbered 0 to ${n - 1}${nullNote}.`,
        hint: `Use a label from 0 to ${n - 1}, such as ${n - 1}.`,
        suggestions: [String(n - 1)],
      });
    });
  },
};
