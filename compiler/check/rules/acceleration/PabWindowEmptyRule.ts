import { timestepMax } from "../../../schedule/timesteps.js";
import type { Rule } from "../../context.js";
import { ATTENTION_KINDS, formatTimestep, windowText } from "./support.js";

/** At least one sampler step's timestep t must satisfy low < t < high (VideoSys's strict test), or the window never reuses anything. */
export const PabWindowEmptyRule: Rule = {
  name: "PabWindowEmptyRule",
  check(ctx) {
    const ts = ctx.facts.timesteps;
    if (!ts || ts.length === 0) return;
    const s = ctx.spec.scheduler;
    const max = timestepMax(s);
    for (const kind of ATTENTION_KINDS) {
      const w = ctx.facts.windows[kind];
      if (!w || w.kind !== "window") continue;
      // Bounds outside the timestep scale are PabWindowRangeRule's to report; a reversed window the parser's.
      if (w.low < 0 || w.high > max || w.low >= w.high) continue;
      if (ts.some((t) => w.low < t && t < w.high)) continue;

      // The nearest steps on either side: the smallest timestep at or above high, the largest at or below low.
      let above: number | undefined;
      let below: number | undefined;
      ts.forEach((t, i) => {
        if (t >= w.high && (above === undefined || t < ts[above]!)) above = i;
        if (t <= w.low && (below === undefined || t > ts[below]!)) below = i;
      });
      const at = (i: number): string => `${formatTimestep(ts[i]!)} (step ${i})`;
      let around: string;
      if (above !== undefined && below !== undefined) around = `the nearest are ${at(above)} above it and ${at(below)} below it`;
      else if (above !== undefined) around = `all of them lie at or above ${w.high}, the lowest being ${at(above)}`;
      else around = `all of them lie at or below ${w.low}, the highest being ${at(below!)}`;

      // Widen the window just enough to take in the nearest steps, staying inside [0, max].
      let low = w.low;
      let high = w.high;
      if (below !== undefined && Math.ceil(ts[below]!) - 1 >= 0) low = Math.ceil(ts[below]!) - 1;
      if (above !== undefined && Math.floor(ts[above]!) + 1 <= max) high = Math.floor(ts[above]!) + 1;
      const widened = low !== w.low || high !== w.high ? windowText(w.every, low, high) : undefined;

      ctx.report({
        code: "OD3203",
        at: `/acceleration/pab/${kind}`,
        range: w.range,
        message:
          `No step of the ${s.kind} sampler falls strictly inside \`acceleration.pab.${kind}\` (${w.low}, ${w.high}): ` +
          `its ${ts.length} timesteps run from ${formatTimestep(ts[0]!)} to ${formatTimestep(ts[ts.length - 1]!)}, and ${around}, so the window never reuses anything.`,
        hint:
          widened !== undefined
            ? `Widen the window to take in the nearest steps: \`${kind}: ${widened}\`, or write \`${kind}: off\`.`
            : `Write \`${kind}: off\`: no window inside [0, ${max}] holds a step.`,
        ...(widened !== undefined ? { suggestions: [widened] } : {}),
      });
    }
  },
};
