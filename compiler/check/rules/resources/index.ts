/** Rules about the resources part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";

export const resourceRules: readonly Rule[] = [];
