/** Rules about the acceleration part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";
import { MlpBroadcastBlockRule } from "./MlpBroadcastBlockRule.js";
import { MlpBroadcastRangeRule } from "./MlpBroadcastRangeRule.js";
import { MlpBroadcastStepRule } from "./MlpBroadcastStepRule.js";
import { PabEveryOneRule } from "./PabEveryOneRule.js";
import { PabKindRule } from "./PabKindRule.js";
import { PabWindowEmptyRule } from "./PabWindowEmptyRule.js";
import { PabWindowRangeRule } from "./PabWindowRangeRule.js";

export const accelerationRules: readonly Rule[] = [
  PabKindRule,
  PabWindowRangeRule,
  PabWindowEmptyRule,
  PabEveryOneRule,
  MlpBroadcastStepRule,
  MlpBroadcastBlockRule,
  MlpBroadcastRangeRule,
];
