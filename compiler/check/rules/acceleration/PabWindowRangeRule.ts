import type { Range } from "../../../../grammar/source.js";
import { timestepMax } from "../../../schedule/timesteps.js";
import type { Rule } from "../../context.js";
import { ATTENTION_KINDS, windowText } from "./support.js";

/** A PAB window's bounds must lie inside the scheduler's timestep range, [0, timestepMax]. */
export const PabWindowRangeRule: Rule = {
  name: "PabWindowRangeRule",
  check(ctx) {
    const s = ctx.spec.scheduler;
    const max = timestepMax(s);
    const train = s.train_steps ?? 1000;
    const scale = `the ${s.kind} scheduler's timesteps run from 0 to ${max} (train_steps ${train})`;
    for (const kind of ATTENTION_KINDS) {
      const w = ctx.facts.windows[kind];
      if (!w || w.kind !== "window") continue;
      const clampedHigh = Math.min(Math.max(w.high, 1), max);
      const clampedLow = Math.max(0, Math.min(w.low, clampedHigh - 1));
      const fixed = windowText(w.every, clampedLow, clampedHigh);
      const bad: { name: string; value: number; range: Range }[] = [];
      if (w.low < 0 || w.low > max) bad.push({ name: "low", value: w.low, range: w.lowRange });
      if (w.high < 0 || w.high > max) bad.push({ name: "high", value: w.high, range: w.highRange });
      for (const b of bad) {
        const side = b.value < 0 ? "below 0" : `above ${max}`;
        ctx.report({
          code: "OD3202",
          at: `/acceleration/pab/${kind}`,
          range: b.range,
          message: `The ${b.name} bound ${b.value} of \`acceleration.pab.${kind}\` is ${side}, but ${scale}.`,
          hint: `Keep the window inside [0, ${max}]: \`${kind}: ${fixed}\`.`,
          suggestions: [fixed],
        });
      }
    }
  },
};
