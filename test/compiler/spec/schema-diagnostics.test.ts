import { describe, expect, it } from "vitest";
import { describeSchemaError } from "../../../compiler/spec/validate-schema.js";
import { expectCodeAtMarkers, validateMarked } from "../../helpers/validate.js";

/** A valid DiT pipeline; each test breaks one thing in it. */
const base = (parts: { model?: string; scheduler?: string; extra?: string; top?: string } = {}) => `version: 1
name: t
${parts.top ?? ""}model: ${parts.model ?? "{ family: dit, variant: DiT-XL/2, checkpoint: random }"}
conditioning: { labels: [207, 360] }
image: { height: 256, width: 256 }
scheduler: ${parts.scheduler ?? "{ kind: iddpm, steps: 250, guidance: 4.0 }"}
${parts.extra ?? ""}`;

describe("schema diagnostics", () => {
  it("accepts the base pipeline", () => {
    const r = validateMarked(base());
    expect(r.diagnostics.filter((d) => d.code.startsWith("OD2"))).toEqual([]);
    expect(r.spec).toBeDefined();
  });

  it("underlines an unknown key and suggests the nearest", () => {
    const r = validateMarked(base({ scheduler: "{ kind: iddpm, <|stpes|>: 250, steps: 250 }" }));
    const [d] = expectCodeAtMarkers(r, "OD2001");
    expect(d!.message).toContain("`stpes`");
    expect(d!.message).toContain("Did you mean `steps`?");
    expect(d!.suggestions).toEqual(["steps"]);
  });

  it("underlines an unknown top-level key", () => {
    const r = validateMarked(base({ extra: "<|paralel|>: { world: 2 }\n" }));
    const [d] = expectCodeAtMarkers(r, "OD2001");
    expect(d!.suggestions?.[0]).toBe("parallel");
  });

  it("reports a missing key on the key of the object that lacks it", () => {
    const r = validateMarked(base({ model: "{ family: dit, variant: DiT-XL/2 }" }).replace("model:", "<|model|>:"));
    const [d] = expectCodeAtMarkers(r, "OD2002");
    expect(d!.message).toBe("Missing key `checkpoint` in `model`.");
    expect(d!.hint).toContain("random");
  });

  it("reports a value of a union (`vae.tiling`: true, false or a mapping) once: the types it may have, or the matching alternative's own error", () => {
    const wrong = validateMarked(base({ extra: "vae: { kind: sd-vae-ft-mse, tiling: <|yes please|> }\n" }));
    const [d] = expectCodeAtMarkers(wrong, "OD2003");
    expect(d!.message).toBe('`vae.tiling` must be true or false or a mapping, not the string "yes please".');
    expect(wrong.diagnostics.map((x) => x.code)).toEqual(["OD2003"]);
    const small = validateMarked(base({ extra: "vae: { kind: sd-vae-ft-mse, tiling: { tile: <|4|> } }\n" }));
    expect(expectCodeAtMarkers(small, "OD2005")[0]!.message).toBe("`vae.tiling.tile` must be >= 8, not 4.");
    expect(small.diagnostics.map((x) => x.code)).toEqual(["OD2005"]);
    const stray = validateMarked(base({ extra: "vae: { kind: sd-vae-ft-mse, tiling: { <|tiles|>: 256 } }\n" }));
    expect(expectCodeAtMarkers(stray, "OD2001")[0]!.suggestions).toEqual(["tile"]);
    expect(stray.diagnostics.map((x) => x.code)).toEqual(["OD2001"]);
    expect(validateMarked(base({ extra: "vae: { kind: sd-vae-ft-mse, tiling: false, parallel: none, frames_per_pass: 2, dtype: fp32, weights_seed: 3 }\n" })).spec).toBeDefined();
  });

  it("reports a wrong type on the value", () => {
    const r = validateMarked(base({ scheduler: '{ kind: iddpm, steps: <|"250"|>, guidance: 4.0 }' }));
    const [d] = expectCodeAtMarkers(r, "OD2003");
    expect(d!.message).toBe('`scheduler.steps` must be a whole number, not the string "250".');
  });

  it("reports an unknown enum value with did-you-mean and the allowed list", () => {
    const r = validateMarked(base({ model: "{ family: <|ditt|>, variant: DiT-XL/2, checkpoint: random }" }));
    const [d] = expectCodeAtMarkers(r, "OD2004");
    expect(d!.message).toContain("Did you mean `dit`?");
    expect(d!.hint).toContain("stdit3");
  });

  it("reports a number out of range", () => {
    const r = validateMarked(base({ scheduler: "{ kind: iddpm, steps: <|0|>, guidance: 4.0 }" }));
    const [d] = expectCodeAtMarkers(r, "OD2005");
    expect(d!.message).toBe("`scheduler.steps` must be >= 1, not 0.");
  });

  it("reports a name of the wrong form", () => {
    const r = validateMarked(base().replace("name: t", "name: <|my pipeline|>"));
    expectCodeAtMarkers(r, "OD2006");
  });

  it("reports an empty list", () => {
    const r = validateMarked(base().replace("labels: [207, 360]", "labels: <|[]|>"));
    const [d] = expectCodeAtMarkers(r, "OD2007");
    expect(d!.message).toBe("`conditioning.labels` must have at least 1 item.");
  });

  it("reports a repeated list item on the repeat", () => {
    const r = validateMarked(base({ extra: "output: { dir: out, formats: [png, latents, <|png|>] }\n" }));
    const [d] = expectCodeAtMarkers(r, "OD2008");
    expect(d!.message).toContain("twice");
  });

  it("reports an unsupported version", () => {
    const r = validateMarked(base().replace("version: 1", "version: <|2|>"));
    const [d] = expectCodeAtMarkers(r, "OD2010");
    expect(d!.hint).toBe("write `version: 1`");
  });

  it("reports every schema error of a file at once", () => {
    const r = validateMarked(
      base({ scheduler: "{ kind: <|ddpm|>, steps: <|-3|> }", extra: "<|outputs|>: { dir: x, formats: [mp4] }\n" }),
    );
    const codes = r.diagnostics.map((d) => d.code);
    expect(codes).toEqual(["OD2004", "OD2005", "OD2001"]);
    expect(r.diagnostics.map((d) => [d.start.offset, d.end.offset])).toEqual(r.ranges.map((x) => [x.start, x.end]));
  });

  it("does not run semantic rules when the schema fails", () => {
    const r = validateMarked(base({ extra: "parallel: { world: 8, layout: \"dsp 3\", extra: 1 }\n" }));
    expect(r.diagnostics.every((d) => d.code.startsWith("OD2"))).toBe(true);
    expect(r.spec).toBeUndefined();
  });
});

describe("schema errors outside the keyword table", () => {
  it("fall back to OD2009 with the ajv message on the value", () => {
    const placed = describeSchemaError({
      keyword: "format",
      instancePath: "/output/dir",
      schemaPath: "#/properties/output/properties/dir/format",
      params: { format: "uri" },
      message: 'must match format "uri"',
    });
    expect(placed).toEqual({ code: "OD2009", pointer: "/output/dir", part: "value", message: '`output.dir` must match format "uri".' });
  });
});
