import type { Rule } from "../../context.js";
import { andList, code } from "../model/support.js";

const FLOW_SAMPLERS: readonly string[] = ["rflow", "euler"];

/** The scheduler must be one that fits how the family was trained (noise prediction or flow velocity). */
export const SchedulerFamilyRule: Rule = {
  name: "SchedulerFamilyRule",
  check(ctx) {
    const { family } = ctx.facts;
    const kind = ctx.spec.scheduler.kind;
    if (!family || family.samplers.includes(kind)) return;
    const flowSampler = FLOW_SAMPLERS.includes(kind);
    const mismatch =
      family.prediction === "flow" && !flowSampler
        ? `${family.title} predicts a rectified-flow velocity, and ${code(kind)} treats the output as predicted noise, so sampling produces noise`
        : family.prediction === "eps" && flowSampler
          ? `${family.title} predicts noise (eps), and ${code(kind)} integrates the output as a flow velocity, so sampling produces noise`
          : `${family.title} was not trained for the ${code(kind)} sampler`;
    const { scheduler, steps } = family.defaults;
    ctx.report({
      code: "OD3402",
      at: "/scheduler/kind",
      message: `\`scheduler.kind\` is ${code(kind)}: ${mismatch}. The samplers that fit are ${andList(family.samplers)}.`,
      hint: `Use \`kind: ${scheduler}\` with \`steps: ${steps}\` (the reference default).`,
      suggestions: [scheduler, ...family.samplers.filter((k) => k !== scheduler)],
    });
  },
};
