import type { CheckContext, Rule } from "../../context.js";
import { divisors, isSpatialTemporal, padTo, sequencesOf } from "../../layouts.js";
import { alternatives, nearest, orList, percent, reportInLayout, termOf, termText } from "./support.js";

/**
 * DSP shards token frames for spatial attention and spatial tokens for temporal attention, so its degree
 * divides both, unless `parallel.pad` pads them (and the waste is reported).
 */
export const DspDivisibilityRule: Rule = {
  name: "DspDivisibilityRule",
  check(ctx) {
    const term = termOf(ctx, "dsp");
    const { family } = ctx.facts;
    const seq = sequencesOf(ctx.facts.geometry);
    if (!term || !family || !isSpatialTemporal(family) || !seq) return;
    const d = term.degree;
    const framesOk = seq.frames % d === 0;
    const spatialOk = seq.spatial % d === 0;
    if (framesOk && spatialOk) return;
    const what = termText(term);

    if (ctx.spec.parallel?.pad === true) {
      const parts: string[] = [];
      if (!framesOk) {
        const padded = padTo(seq.frames, d);
        parts.push(`${seq.frames} token frames to ${padded} (${percent((padded - seq.frames) / padded)} of the work is padding)`);
      }
      if (!spatialOk) {
        const padded = padTo(seq.spatial, d);
        parts.push(`${seq.spatial} spatial tokens to ${padded} (${percent((padded - seq.spatial) / padded)} of the work is padding)`);
      }
      reportInLayout(ctx, term.range, {
        code: "OD3113",
        message: `\`${what}\` pads ${parts.join(" and ")}; the padded share is computed and thrown away.`,
        hint: exactHint(ctx, seq.frames, seq.spatial, d) ?? `No DSP degree above 1 splits both evenly within ${ctx.facts.world} ranks.`,
      });
      return;
    }

    const broken = [
      ...(framesOk ? [] : [`the ${seq.frames} token frames (sharded for spatial attention)`]),
      ...(spatialOk ? [] : [`the ${seq.spatial} spatial tokens per frame (sharded for temporal attention)`]),
    ];
    const good = goodDegrees(seq.frames, seq.spatial, ctx.facts.world);
    const frames = spatialOk ? framesFor(ctx, d) : undefined;
    const fixes = [
      ...(good.length > 0 ? [`use ${orList(nearest(good, d, 5).map((g) => `dsp ${g}`))}`] : []),
      ...(frames !== undefined ? [`set \`frames: ${frames}\` under \`video\``] : []),
      "set `pad: true` under `parallel` to pad them",
    ];
    reportInLayout(ctx, term.range, {
      code: "OD3103",
      message: `\`${what}\` does not divide ${broken.join(" nor ")}.`,
      hint: alternatives(fixes),
      suggestions: nearest(good, d, 5).map((g) => `dsp ${g}`),
    });
  },
};

/** DSP degrees above 1 that divide both sequences and fit in the world. */
function goodDegrees(frames: number, spatial: number, world: number): number[] {
  return divisors(frames).filter((g) => g > 1 && spatial % g === 0 && g <= world);
}

function exactHint(ctx: CheckContext, frames: number, spatial: number, d: number): string | undefined {
  const good = nearest(goodDegrees(frames, spatial, ctx.facts.world), d, 5);
  return good.length > 0 ? `A DSP degree that splits both evenly needs no padding: ${orList(good.map((g) => `dsp ${g}`))}.` : undefined;
}

/** The frame count nearest the Spec's whose token frames divide by d (the family's VAE decides which counts exist). */
function framesFor(ctx: CheckContext, d: number): number | undefined {
  const { family, hyper, size } = ctx.facts;
  if (!family || !hyper || !size) return undefined;
  const fits = (f: number): boolean => {
    if (f < 1 || f > 4096 || typeof family.latentFrames(f) !== "number") return false;
    const g = family.geometry(hyper, { frames: f, height: size.height, width: size.width });
    return g.tokenFrames >= 1 && g.tokenFrames % d === 0;
  };
  for (let step = 1; step < 4096; step++) {
    if (fits(size.frames + step)) return size.frames + step;
    if (fits(size.frames - step)) return size.frames - step;
  }
  return undefined;
}
