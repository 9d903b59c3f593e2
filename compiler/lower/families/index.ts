/** The lowering of each model family, one file per family. */
import type { Family } from "../../spec/schema.js";
import type { FamilyLowering } from "./lowering.js";
import { lowerStdit } from "./stdit.js";

export const familyLowerings: Readonly<Partial<Record<Family, FamilyLowering>>> = {
  stdit: lowerStdit,
};
