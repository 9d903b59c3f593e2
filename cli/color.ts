/**
 * Whether to colour the human report: an explicit `--color`/`--no-color` wins, then FORCE_COLOR, then
 * NO_COLOR (https://no-color.org), then whether stdout is a terminal. Machine formats are never coloured.
 */
import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

export function colorEnabled(flag: boolean | undefined, env: Readonly<Record<string, string | undefined>>, isTTY: boolean): boolean {
  if (flag !== undefined) return flag;
  const force = env.FORCE_COLOR;
  // FORCE_COLOR=0 (or "false") is the conventional way to switch forcing off.
  if (force !== undefined) return force !== "0" && force !== "false";
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return isTTY;
}

/** A palette that colours when enabled and is the identity otherwise. */
export function palette(enabled: boolean): Colors {
  return pc.createColors(enabled);
}
