#!/usr/bin/env node
// Writes test/reference/weights-tables.json: for every family with a `<family>-tiny` variant, the resolved
// hyperparameters and the registry's checkpoint table (`family.weights(family.resolve(variant))`), names and
// shapes in registry order. make_goldens.py builds its random checkpoints from this file, so the goldens carry
// exactly the tensors the compiler expects; test/reference/goldens.test.ts fails when the two drift apart.
//
// It reads the built compiler (dist/, made by `npm run build`); OPENDIT_DIST points at another build.
//   npm run build && node test/reference/dump-weights.mjs
import { writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = new URL(".", import.meta.url);
const dist = process.env.OPENDIT_DIST ? pathToFileURL(`${process.env.OPENDIT_DIST.replace(/\/$/, "")}/`) : new URL("../../dist/", here);
const { knownFamilies } = await import(new URL("compiler/index.js", dist).href);

const tables = {};
for (const family of knownFamilies()) {
  const variant = `${family.family}-tiny`;
  const input = family.variants[variant];
  if (input === undefined) continue;
  const hyper = family.resolve(input);
  tables[family.family] = {
    variant,
    hyper,
    weights: family.weights(hyper).map((w) => ({ name: w.name, shape: [...w.shape] })),
  };
}

// One tensor a line, so a registry change shows up as a readable diff.
const lines = ["{"];
const families = Object.entries(tables);
families.forEach(([name, t], i) => {
  lines.push(`  ${JSON.stringify(name)}: {`);
  lines.push(`    "variant": ${JSON.stringify(t.variant)},`);
  lines.push(`    "hyper": ${JSON.stringify(t.hyper)},`);
  lines.push(`    "weights": [`);
  t.weights.forEach((w, j) => lines.push(`      ${JSON.stringify(w)}${j + 1 < t.weights.length ? "," : ""}`));
  lines.push("    ]");
  lines.push(`  }${i + 1 < families.length ? "," : ""}`);
});
lines.push("}");
const out = fileURLToPath(new URL("weights-tables.json", here));
writeFileSync(out, `${lines.join("\n")}\n`);
console.log(`wrote ${out}: ${Object.keys(tables).join(", ")}`);
