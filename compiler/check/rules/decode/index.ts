/** Rules about the VAE decode of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";
import { VaeDecoderRule } from "./VaeDecoderRule.js";
import { VaePatchSplitRule } from "./VaePatchSplitRule.js";
import { VaeTilingRule } from "./VaeTilingRule.js";

export const decodeRules: readonly Rule[] = [VaeDecoderRule, VaeTilingRule, VaePatchSplitRule];
