/** The lowering of each model family, one file per family. */
import type { Family } from "../../spec/schema.js";
import type { FamilyLowering } from "./lowering.js";
import { lowerDit } from "./dit.js";
import { lowerLatte } from "./latte.js";
import { lowerLatteT2V } from "./latte-t2v.js";
import { lowerOpenSoraPlan } from "./opensora-plan.js";
import { lowerPixart } from "./pixart.js";
import { lowerStdit } from "./stdit.js";
import { lowerStdit3 } from "./stdit3.js";

export const familyLowerings: Readonly<Partial<Record<Family, FamilyLowering>>> = {
  dit: lowerDit,
  latte: lowerLatte,
  "latte-t2v": lowerLatteT2V,
  "opensora-plan": lowerOpenSoraPlan,
  pixart: lowerPixart,
  stdit: lowerStdit,
  stdit3: lowerStdit3,
};
