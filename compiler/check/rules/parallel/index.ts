/** Rules about the parallel part of a pipeline, in the order they run. */
import type { Rule } from "../../context.js";

export const parallelRules: readonly Rule[] = [];
