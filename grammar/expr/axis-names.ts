/**
 * What to tell a user who names a parallel axis the way another tool does (xDiT's `sp`/`usp`, Megatron's
 * `pp`/`tp`), besides the did-you-mean over the real axis names.
 */
import { suggest } from "../../diagnostics/did-you-mean.js";
import { AXES } from "./types.js";

interface ForeignAxis {
  readonly hint: string;
  readonly suggestions: readonly string[];
}

const SEQUENCE =
  "sequence parallelism is written as its Ulysses and Ring degrees, such as `ulysses 2 x ring 2` (or `dsp N` for spatial-temporal video models)";

const FOREIGN: Readonly<Record<string, ForeignAxis>> = {
  sp: { hint: SEQUENCE, suggestions: ["ulysses", "ring", "dsp"] },
  usp: { hint: SEQUENCE, suggestions: ["ulysses", "ring"] },
  pp: { hint: "pipeline parallelism is PipeFusion here: write `pipefusion N`", suggestions: ["pipefusion"] },
  pipeline: { hint: "pipeline parallelism is PipeFusion here: write `pipefusion N`", suggestions: ["pipefusion"] },
  tp: {
    hint: "tensor parallelism is not supported; split the sequence with `ulysses`, `ring` or `dsp`, or the batch with `cfg` or `dp`",
    suggestions: [],
  },
  data: { hint: "data parallelism is written `dp N`", suggestions: ["dp"] },
};

/** Did-you-mean candidates and a hint for an unknown axis name. */
export function adviseAxis(name: string): { readonly suggestions: readonly string[]; readonly hint: string } {
  const foreign = FOREIGN[name.toLowerCase()];
  if (foreign) return foreign;
  const suggestions = suggest(name, AXES);
  const hint = suggestions.length > 0 ? `use \`${suggestions[0]}\`` : `the axes are ${AXES.join(", ")}`;
  return { suggestions, hint };
}
