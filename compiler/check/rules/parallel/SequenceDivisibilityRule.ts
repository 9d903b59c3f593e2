import type { LayoutTerm } from "../../../../grammar/expr/types.js";
import type { Range } from "../../../../grammar/source.js";
import type { Rule } from "../../context.js";
import { padTo, sequencesOf, validLayouts, type Sequences } from "../../layouts.js";
import { alternatives, cover, joinOr, nearest, orList, percent, reportInLayout, termOf, termText } from "./support.js";

// The model (xdit.md §2.1): between attentions the flattened sequence of N = frames x rows x cols tokens
// rests sharded over all ulysses x ring ranks, so N divides by ulysses x ring. Before an attention, the
// Ulysses all-to-all gathers the sequence within its group and scatters the heads; each ring rank then holds
// one chunk of that attention's own sequence and passes its K/V around the ring, so that sequence splits
// into `ring` chunks: rows x cols tokens for spatial attention (one frame), the frames for temporal attention
// (one spatial position; a single frame needs no split). An image has one frame, so its only sequence is N
// itself. Cross attention reads the text as keys and shards nothing of it.

/**
 * Ulysses x Ring shard the token sequence evenly: their degrees divide the whole sequence and the ring degree
 * divides each attention's own sequence, unless `parallel.pad` pads them (and the waste is reported).
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
    const temporal = family.attention.includes("temporal") && seq.frames > 1;

    const ringBroken: string[] = [];
    if (seq.spatial % r !== 0) ringBroken.push(`the ${seq.spatial} tokens of each frame that spatial attention runs over`);
    if (temporal && seq.frames % r !== 0) ringBroken.push(`the ${seq.frames} token frames that temporal attention runs over`);
    const totalOk = seq.total % (u * r) === 0;
    if (ringBroken.length === 0 && totalOk) return;

    const written = [uTerm, rTerm].filter((t): t is LayoutTerm => t !== undefined).sort((a, b) => a.range.start - b.range.start);
    const product = written.map(termText).join(" x ");
    let range: Range;
    let fault: LayoutTerm | undefined;
    if (ringBroken.length > 0 || (rTerm && !uTerm)) fault = rTerm;
    else if (uTerm && (!rTerm || seq.total % u !== 0)) fault = uTerm;
    else if (rTerm && seq.total % r !== 0) fault = rTerm;
    if (fault) range = fault.range;
    else range = cover(written.map((t) => t.range));

    if (ctx.spec.parallel?.pad === true) {
      const parts: string[] = [];
      if (!totalOk) {
        const padded = padTo(seq.total, u * r);
        parts.push(`the ${seq.total}-token sequence to ${padded} (${percent((padded - seq.total) / padded)})`);
      }
      if (seq.spatial % r !== 0) {
        const padded = padTo(seq.spatial, r);
        parts.push(`each frame's ${seq.spatial} tokens to ${padded} for ring attention (${percent((padded - seq.spatial) / padded)})`);
      }
      if (temporal && seq.frames % r !== 0) {
        const padded = padTo(seq.frames, r);
        parts.push(`the ${seq.frames} token frames to ${padded} for ring attention (${percent((padded - seq.frames) / padded)})`);
      }
      reportInLayout(ctx, range, {
        code: "OD3113",
        message: `\`${product}\` pads ${joinOr(parts, "and")}; the padded share is computed and thrown away.`,
      });
      return;
    }

    const broken = [...(totalOk ? [] : [`the ${seq.total} tokens of the whole sequence`]), ...ringBroken];
    const what = ringBroken.length > 0 && totalOk ? termText(rTerm!) : product;
    const candidates = fault ? replacements(fault, seq, u, r, temporal, ctx.facts.hyper?.heads, ctx.facts.world) : [];
    const layouts = validLayouts(ctx.spec, ctx.facts, ctx.facts.world).slice(0, 3);
    const fixes = [
      ...(candidates.length > 0 ? [`use ${orList(candidates)}`] : []),
      ...(layouts.length > 0 ? [`use a layout that fits ${ctx.facts.world} ranks, such as ${orList(layouts)}`] : []),
      "set `pad: true` under `parallel` to pad the sequence",
    ];
    reportInLayout(ctx, range, {
      code: "OD3104",
      message: `\`${what}\` does not divide ${joinOr(broken, "nor")}.`,
      hint: alternatives(fixes),
      suggestions: candidates,
    });
  },
};

/** Degrees for the faulty term (the other one kept) that shard every sequence evenly, nearest first. */
function replacements(
  fault: LayoutTerm,
  seq: Sequences,
  u: number,
  r: number,
  temporal: boolean,
  heads: number | undefined,
  world: number,
): string[] {
  const fits: number[] = [];
  for (let d = 2; d <= Math.max(world, 2) && d <= seq.total; d++) {
    const uu = fault.axis === "ulysses" ? d : u;
    const rr = fault.axis === "ring" ? d : r;
    if (seq.total % (uu * rr) !== 0 || seq.spatial % rr !== 0 || (temporal && seq.frames % rr !== 0)) continue;
    if (heads !== undefined && heads % uu !== 0) continue;
    fits.push(d);
  }
  return nearest(fits, fault.degree, 5).map((d) => `${fault.axis} ${d}`);
}
