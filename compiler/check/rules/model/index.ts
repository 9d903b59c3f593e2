/** Rules about the model part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";

export const modelRules: readonly Rule[] = [];
