/** Finding a catalog entry by what a person types: the code in any case (`od3101`) or its name. */
import { allCodes, codeInfo, type Code } from "../diagnostics/codes.js";
import { didYouMean } from "../diagnostics/did-you-mean.js";

export type CodeLookup = { readonly found: Code } | { readonly found?: undefined; readonly message: string };

export function lookupCode(query: string): CodeLookup {
  const wanted = query.trim();
  const byCode = allCodes().find((code) => code.toLowerCase() === wanted.toLowerCase());
  if (byCode) return { found: byCode };
  const byName = allCodes().find((code) => codeInfo(code).name === wanted.toLowerCase());
  if (byName) return { found: byName };
  const names = allCodes().flatMap((code) => [code, codeInfo(code).name]);
  return { message: `Unknown diagnostic code \`${wanted}\`.${didYouMean(wanted, names)}` };
}
