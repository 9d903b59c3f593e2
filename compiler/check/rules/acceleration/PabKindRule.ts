import { timestepMax } from "../../../schedule/timesteps.js";
import type { Rule } from "../../context.js";
import { ATTENTION_KINDS, MLP_BLOCK_KINDS, exampleWindow, listNames } from "./support.js";

/** A PAB window may only name an attention kind the model has, and MLP broadcast only a block kind whose MLP it can reuse. */
export const PabKindRule: Rule = {
  name: "PabKindRule",
  check(ctx) {
    const family = ctx.facts.family;
    const pab = ctx.spec.acceleration?.pab;
    if (!family || !pab) return;
    const example = exampleWindow(timestepMax(ctx.spec.scheduler));
    for (const kind of ATTENTION_KINDS) {
      if (pab[kind] === undefined || family.attention.includes(kind)) continue;
      // `off` for a kind the model lacks asks for nothing.
      if (ctx.facts.windows[kind]?.kind === "off") continue;
      const free = family.attention.filter((k) => pab[k] === undefined);
      ctx.report({
        code: "OD3201",
        at: `/acceleration/pab/${kind}`,
        part: "key",
        message: `\`acceleration.pab.${kind}\` sets a PAB window for ${kind} attention, but ${family.title} has only ${listNames(family.attention)} attention.`,
        hint:
          free.length > 0
            ? `Remove \`${kind}\`, or put the window on an attention kind the model has, such as \`${free[0]}: ${example}\`.`
            : `Remove \`${kind}\`: the model's ${listNames(family.attention)} attention already have windows.`,
        suggestions: free.length > 0 ? free : family.attention,
      });
    }
    const mlp = pab.mlp;
    if (!mlp) return;
    for (const kind of MLP_BLOCK_KINDS) {
      if (mlp[kind] === undefined || family.mlpBlockKinds.includes(kind)) continue;
      const free = family.mlpBlockKinds.filter((k) => mlp[k] === undefined);
      const has =
        family.mlpBlockKinds.length > 0
          ? `MLP broadcast can only reuse the MLP of its ${listNames(family.mlpBlockKinds)} blocks`
          : "it has no block whose MLP output MLP broadcast can reuse";
      ctx.report({
        code: "OD3201",
        at: `/acceleration/pab/mlp/${kind}`,
        part: "key",
        message: `\`acceleration.pab.mlp.${kind}\` broadcasts the MLP of ${kind} blocks, but ${family.title} has none: ${has}.`,
        hint:
          free.length > 0
            ? `Rename \`${kind}\` to \`${free[0]}\` (same steps, blocks and reuse), or remove it.`
            : `Remove \`mlp.${kind}\`.`,
        ...(free.length > 0 ? { suggestions: free } : {}),
      });
    }
  },
};
