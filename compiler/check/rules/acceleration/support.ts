/** Small pieces the acceleration rules share: the kinds PAB names, and how windows and timesteps are written. */
import type { AttentionKind, BlockKind } from "../../../models/types.js";

export const ATTENTION_KINDS: readonly AttentionKind[] = ["spatial", "temporal", "cross"];
export const MLP_BLOCK_KINDS: readonly BlockKind[] = ["spatial", "temporal"];

/** A timestep as a person reads it: whole numbers as they are, fractions to one decimal. */
export function formatTimestep(t: number): string {
  return Number.isInteger(t) ? String(t) : t.toFixed(1);
}

/** A window in the syntax a user writes. */
export function windowText(every: number, low: number, high: number): string {
  return `every ${every} in [${low}, ${high}]`;
}

/** A window that fits any schedule whose timesteps run up to `max`: VideoSys's generic [100, 800] of 1000. */
export function exampleWindow(max: number, every = 2): string {
  const low = Math.round(max * 0.1);
  const high = Math.max(low + 1, Math.round(max * 0.8));
  return windowText(every, low, high);
}

/** `a`, `a` and `b`, `a`, `b` and `c`: names in backticks for a sentence. */
export function listNames(names: readonly string[]): string {
  const q = names.map((n) => `\`${n}\``);
  if (q.length <= 1) return q[0] ?? "none";
  return `${q.slice(0, -1).join(", ")} and ${q[q.length - 1]}`;
}
