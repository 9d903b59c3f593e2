import type { LayoutTerm } from "../../../../grammar/expr/types.js";
import type { Range } from "../../../../grammar/source.js";
import type { Rule } from "../../context.js";
import { padTo, sequencesOf, validLayouts, type Sequences } from "../../layouts.js";
import { alternatives, cover, nearest, orList, percent, reportInLayout, termOf, termText } from "./support.js";

// The model (the lowering's, compiler/lower/program/context.ts): between attentions each frame's rows x cols
// tokens rest sharded over all ulysses x ring ranks (Ulysses innermost), so rows x cols divides by
// ulysses x ring. Spatial attention gathers its sequence with the Ulysses all-to-all (heads scattered) and the
// Ring K/V exchange; temporal attention runs over the frames at each token, all of which a rank holds, so the
// frame count needs no split. An image is one frame. Cross attention reads the text as keys and shards nothing.

/**
 * Ulysses x Ring shard the tokens of each frame evenly: their product divides rows x cols, unless
 * `parallel.pad` pads them (and the waste is reported).
 */
export const SequenceDivisibilityRule: Rule = {
  name: "SequenceDivisibilityRule",
  check(ctx) {
    const { family, degrees } = ctx.facts;
    const seq = sequencesOf(ctx.facts.geometry);
    const uTerm = termOf(ctx, "ulysses");
    const rTerm = termOf(ctx, "ring");
    if (!family || !seq || (!uTerm && !rTerm)) return;
    const u = degrees.ulysses;
    const r = degrees.ring;
    if (seq.spatial % (u * r) === 0) return;

    const written = [uTerm, rTerm].filter((t): t is LayoutTerm => t !== undefined).sort((a, b) => a.range.start - b.range.start);
    const product = written.map(termText).join(" x ");
    let fault: LayoutTerm | undefined;
    if (uTerm && (!rTerm || seq.spatial % u !== 0)) fault = uTerm;
    else if (rTerm && (!uTerm || seq.spatial % r !== 0)) fault = rTerm;
    const range: Range = fault ? fault.range : cover(written.map((t) => t.range));
    const what = fault ? termText(fault) : product;
    const tokens = seq.frames > 1 ? `the ${seq.spatial} tokens of each frame` : `the ${seq.spatial} tokens of the image`;

    if (ctx.spec.parallel?.pad === true) {
      const padded = padTo(seq.spatial, u * r);
      reportInLayout(ctx, range, {
        code: "OD3113",
        message: `\`${product}\` pads ${tokens} to ${padded} (${percent((padded - seq.spatial) / padded)}); the padded share is computed and thrown away.`,
      });
      return;
    }

    const candidates = fault ? replacements(fault, seq, u, r, ctx.facts.hyper?.heads, ctx.facts.world) : [];
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 3);
    const fixes = [
      ...(candidates.length > 0 ? [`use ${orList(candidates)}`] : []),
      ...(layouts.length > 0 ? [`use a layout that fits ${ctx.facts.world} ranks, such as ${orList(layouts)}`] : []),
      "set `pad: true` under `parallel` to pad the sequence",
    ];
    reportInLayout(ctx, range, {
      code: "OD3104",
      message: `\`${what}\` does not divide ${tokens}.`,
      hint: alternatives(fixes),
      suggestions: candidates,
    });
  },
};

/** Degrees for the faulty term (the other one kept) that shard every sequence evenly, nearest first. */
function replacements(fault: LayoutTerm, seq: Sequences, u: number, r: number, heads: number | undefined, world: number): string[] {
  const fits: number[] = [];
  for (let d = 2; d <= Math.max(world, 2) && d <= seq.spatial; d++) {
    const uu = fault.axis === "ulysses" ? d : u;
    const rr = fault.axis === "ring" ? d : r;
    if (seq.spatial % (uu * rr) !== 0) continue;
    if (heads !== undefined && heads % uu !== 0) continue;
    fits.push(d);
  }
  return nearest(fits, fault.degree, 5).map((d) => `${fault.axis} ${d}`);
}
