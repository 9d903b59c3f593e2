import type { Rule } from "../../context.js";
import { sequencesOf } from "../../layouts.js";
import { nearest, orList, termOf } from "./support.js";

/** PipeFusion patches split the token rows into bands of whole rows, one per patch and sequence rank. */
export const PipeFusionPatchesRule: Rule = {
  name: "PipeFusionPatchesRule",
  check(ctx) {
    const term = termOf(ctx, "pipefusion");
    const settings = ctx.spec.parallel?.pipefusion;
    const seq = sequencesOf(ctx.facts.geometry);
    if (!term || term.degree === 1 || !settings || !seq) return;
    const { ulysses, ring } = ctx.facts.degrees;
    const sp = ulysses * ring;
    const bands = settings.patches * sp;
    if (seq.rows % bands === 0) return;
    const spText = [ulysses > 1 ? `ulysses ${ulysses}` : "", ring > 1 ? `ring ${ring}` : ""].filter((s) => s !== "").join(" x ");
    const split = sp > 1 ? `${settings.patches} patches x ${sp} sequence ranks (\`${spText}\`) = ${bands} bands` : `${settings.patches} patches`;
    const fits: number[] = [];
    for (let p = 1; p <= Math.min(seq.rows, 1024); p++) if (seq.rows % (p * sp) === 0) fits.push(p);
    const choices = nearest(fits, settings.patches, 5);
    ctx.report({
      code: "OD3111",
      at: "/parallel/pipefusion/patches",
      message: `\`patches: ${settings.patches}\` cannot split the ${seq.rows} token rows of the latent evenly into ${split}.`,
      hint:
        choices.length > 0
          ? `Use a patch count whose bands are whole rows: ${orList(choices.map((p) => `patches: ${p}`))}.`
          : `No patch count splits ${seq.rows} rows over ${sp} sequence ranks; use a Ulysses x Ring degree that divides ${seq.rows}.`,
      suggestions: choices.map(String),
    });
  },
};
