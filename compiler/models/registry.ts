/** The model registry: every family the compiler knows, keyed by its `model.family` name. */
import type { Family } from "../spec/schema.js";
import { dit } from "./dit.js";
import { latteT2V } from "./latte-t2v.js";
import { latte } from "./latte.js";
import { opensoraPlan } from "./opensora-plan.js";
import { pixart } from "./pixart.js";
import { stdit3 } from "./stdit3.js";
import { stdit } from "./stdit.js";
import type { ModelFamily } from "./types.js";

// A full Record: the compiler fails to build when the schema names a family that has no record here.
const families: Readonly<Record<Family, ModelFamily>> = {
  dit,
  pixart,
  latte,
  "latte-t2v": latteT2V,
  stdit,
  stdit3,
  "opensora-plan": opensoraPlan,
};

/** The family's record; undefined for a name outside the schema's (an own-key test, so `constructor` is unknown too). */
export function familyInfo(family: Family): ModelFamily | undefined {
  return Object.hasOwn(families, family) ? families[family] : undefined;
}

export function knownFamilies(): ModelFamily[] {
  return Object.values(families);
}
