import type { SchedulerKind } from "../../../spec/schema.js";
import type { Rule } from "../../context.js";
import { code } from "../model/support.js";

/** Each sampler-specific setting belongs to one scheduler kind. */
const OWNER = {
  eta: "ddim",
  spacing: "ddim",
  order: "dpm-solver",
  shift: "euler",
  timestep_transform: "rflow",
} as const satisfies Record<string, SchedulerKind>;

/** A scheduler setting may only be given with the scheduler kind it belongs to (`eta`, `spacing`: ddim; `order`: dpm-solver; `shift`: euler; `timestep_transform`: rflow). */
export const SchedulerKnobRule: Rule = {
  name: "SchedulerKnobRule",
  check(ctx) {
    const s = ctx.spec.scheduler;
    const { family } = ctx.facts;
    for (const [knob, owner] of Object.entries(OWNER) as [keyof typeof OWNER, SchedulerKind][]) {
      const value = s[knob];
      if (value === undefined || s.kind === owner) continue;
      const ownerFits = !family || family.samplers.includes(owner);
      ctx.report({
        code: "OD3401",
        at: `/scheduler/${knob}`,
        part: "key",
        message: `\`scheduler.${knob}\` applies only to the ${code(owner)} scheduler, but \`scheduler.kind\` is ${code(s.kind)}, so it would be ignored.`,
        hint: ownerFits ? `Remove \`${knob}: ${String(value)}\`, or use \`kind: ${owner}\`.` : `Remove \`${knob}: ${String(value)}\`.`,
      });
    }
  },
};
