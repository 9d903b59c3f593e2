/**
 * How a number is written in YAML text that both YAML 1.2 and YAML 1.1 readers (PyYAML) take for the same
 * number: JavaScript's own spelling, except that exponent forms get a dot in the mantissa and a sign in the
 * exponent (PyYAML reads `1e-7` as a string), and the non-finite values use YAML's `.inf` / `.nan`.
 */

export function yamlNumber(n: number): string {
  if (Number.isNaN(n)) return ".nan";
  if (n === Infinity) return ".inf";
  if (n === -Infinity) return "-.inf";
  if (Object.is(n, -0)) return "-0";
  return withPortableExponent(String(n)) ?? String(n);
}

/**
 * Rewrites a decimal number in exponent form (`1e-4`, `5E3`, `-.5e+2`) so that its mantissa has a dot with
 * digits on both sides and its exponent a sign (`1.0e-4`, `5.0E+3`, `-0.5e+2`); undefined when `text` is not
 * a number in exponent form.
 */
export function withPortableExponent(text: string): string | undefined {
  const m = /^([-+]?)([0-9]*)(?:\.([0-9]*))?([eE])([-+]?)([0-9]+)$/.exec(text);
  if (!m) return undefined;
  const [, sign, whole, fraction, e, expSign, exponent] = m;
  if (!whole && !fraction) return undefined;
  return `${sign}${whole || "0"}.${fraction || "0"}${e}${expSign || "+"}${exponent}`;
}
