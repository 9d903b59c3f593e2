/** The model registry: every family the compiler knows, keyed by its `model.family` name. */
import type { Family } from "../spec/schema.js";
import { dit } from "./dit.js";
import type { ModelFamily } from "./types.js";

const families: Partial<Record<Family, ModelFamily>> = {
  dit,
};

export function familyInfo(family: Family): ModelFamily | undefined {
  return families[family];
}

export function knownFamilies(): ModelFamily[] {
  return Object.values(families).filter((f): f is ModelFamily => f !== undefined);
}
