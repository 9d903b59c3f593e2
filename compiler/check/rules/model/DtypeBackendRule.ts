import type { Rule } from "../../context.js";
import { code } from "./support.js";

/** The CPU backend computes in fp32, so a lower `model.dtype` there has no effect. */
export const DtypeBackendRule: Rule = {
  name: "DtypeBackendRule",
  check(ctx) {
    const dtype = ctx.spec.model.dtype;
    if (ctx.spec.runtime?.backend !== "cpu" || dtype === undefined || dtype === "fp32") return;
    ctx.report({
      code: "OD3312",
      at: "/model/dtype",
      message: `\`model.dtype\` is ${code(dtype)}, but \`runtime.backend\` is \`cpu\`, which computes in fp32 whatever dtype is named; results will match an fp32 run, not a ${dtype} one.`,
      hint: "Use `dtype: fp32` (or remove `dtype`) for the CPU backend, or `backend: cuda` to run in " + dtype + ".",
      suggestions: ["fp32"],
    });
  },
};
