import type { Rule } from "../../context.js";
import { MLP_BLOCK_KINDS } from "./support.js";

/** Every MLP broadcast block index must name a block the model has: below `depth` for its block kind. */
export const MlpBroadcastBlockRule: Rule = {
  name: "MlpBroadcastBlockRule",
  check(ctx) {
    const mlp = ctx.spec.acceleration?.pab?.mlp;
    const { family, hyper } = ctx.facts;
    if (!mlp || !family || !hyper) return;
    const depth = hyper.depth;
    const model = ctx.spec.model.variant ?? family.title;
    for (const kind of MLP_BLOCK_KINDS) {
      const m = mlp[kind];
      // A block kind the model lacks is PabKindRule's to report.
      if (!m || !family.mlpBlockKinds.includes(kind)) continue;
      const valid = m.blocks.filter((b) => b < depth);
      const fixed = `[${(valid.length > 0 ? valid : [depth - 1]).join(", ")}]`;
      const blocks = family.blocks === "single" ? "blocks" : `${kind} blocks`;
      m.blocks.forEach((block, i) => {
        if (block < depth) return;
        ctx.report({
          code: "OD3206",
          at: `/acceleration/pab/mlp/${kind}/blocks/${i}`,
          message: `\`acceleration.pab.mlp.${kind}.blocks\` lists block ${block}, but ${model} has ${depth} ${blocks} (indices 0 to ${depth - 1}).`,
          hint: `Block indices count from 0 to ${depth - 1}: \`blocks: ${fixed}\`.`,
          suggestions: [fixed],
        });
      });
    }
  },
};
