import type { Rule } from "../../context.js";

/** With `runtime.devices` (one per local rank), the world must be a whole number of nodes: a multiple of its length. */
export const DevicesCountRule: Rule = {
  name: "DevicesCountRule",
  check(ctx) {
    const devices = ctx.spec.runtime?.devices;
    if (!devices) return;
    const world = ctx.facts.world;
    const local = devices.length;
    if (world % local === 0) return;
    // The most devices up to the listed count that split the world evenly.
    let fit = Math.min(local, world);
    while (world % fit !== 0) fit--;
    const kept = devices.slice(0, fit);
    const fixed = `[${kept.join(", ")}]`;
    const nodes = world / fit;
    ctx.report({
      code: "OD3505",
      at: "/runtime/devices",
      message:
        local > world
          ? `\`runtime.devices\` lists ${local} devices, one per local rank, but \`parallel.world\` is ${world}: a node cannot hold more ranks than the world.`
          : `\`runtime.devices\` lists ${local} devices, one per local rank, but \`parallel.world\` ${world} is not a multiple of ${local}: the last node would run ${world % local} rank${world % local === 1 ? "" : "s"}.`,
      hint: `List ${fit} device${fit === 1 ? "" : "s"} per node (${nodes} node${nodes === 1 ? "" : "s"} of ${fit}): \`devices: ${fixed}\`, or set \`world\` to a multiple of ${local}.`,
      suggestions: [fixed],
    });
  },
};
