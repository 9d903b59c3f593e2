/**
 * compile(): the three kinds of source agree, overrides are checked exactly like the file's own values and
 * reported at their own positions, nothing throws for bad input, and the README's sweep example runs. Also
 * tune(), which compiles every layout of N ranks.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compile, GPU_PROFILES, tune, type Spec } from "../../compiler/index.js";
import { canonicalJson, sha256 } from "../../compiler/plan/serialize.js";

const PIPELINES = new URL("../../pipelines/", import.meta.url);
const read = (name: string): { path: string; text: string } => ({ path: `pipelines/${name}`, text: readFileSync(new URL(name, PIPELINES), "utf8") });
const DSP = read("opensora-dsp.yaml");
const errorsOf = (r: { diagnostics: readonly { severity: string; code: string }[] }) => r.diagnostics.filter((d) => d.severity === "error").map((d) => d.code);

/** The spec of opensora-dsp.yaml, as a value. */
function dspSpec(): Spec {
  const spec = compile(DSP).spec;
  if (!spec) throw new Error("opensora-dsp.yaml did not pass the schema");
  return spec;
}

describe("compile", () => {
  it("lowers a checked pipeline to a hashed plan whose hash is the canonical JSON's", () => {
    const { plan, diagnostics } = compile(DSP);
    expect(errorsOf({ diagnostics })).toEqual([]);
    expect(plan).toBeDefined();
    expect(plan!.format).toBe("opendit-plan");
    expect(plan!.version).toBe(1);
    const { hash, ...body } = plan!;
    expect(hash).toBe(sha256(canonicalJson(body)));
    expect(plan!.mesh.world).toBe(8);
    expect(plan!.mesh.groups.cfg).toEqual([[0, 4], [1, 5], [2, 6], [3, 7]]);
    expect(plan!.cost.totalSeconds).toBeGreaterThan(0);
  });

  it("gives the same plan from the text, the .odit file and the Spec value", () => {
    const fromFile = compile(DSP).plan!;
    expect(compile(DSP.text).plan!.hash).toBe(fromFile.hash);
    expect(compile(read("opensora-dsp.odit")).plan!.hash).toBe(fromFile.hash);
    expect(compile(dspSpec()).plan!.hash).toBe(fromFile.hash);
  });

  it("applies overrides as if written in the file", () => {
    const { plan } = compile(DSP, { layout: "dsp 8", steps: 30, gpu: "h200", ranksPerNode: 4 });
    expect(plan!.mesh.groups.dsp).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(plan!.mesh.groups.cfg).toBeUndefined();
    expect(plan!.steps).toHaveLength(30);
    expect(plan!.cost.gpu).toBe("h200");
    expect(plan!.mesh.nodes).toBe(2);
    expect(plan!.mesh.intraNode.dsp).toBe(false);
  });

  it("reports a bad --layout at its position in the overrides' own text", () => {
    const r = compile(DSP, { layout: "cfg 2 x dps 4" });
    expect(r.plan).toBeUndefined();
    const d = r.diagnostics.find((x) => x.code === "OD1202")!;
    expect(d.file).toBe("<overrides>");
    expect(r.sources.map((s) => s.path)).toEqual(["pipelines/opensora-dsp.yaml", "<overrides>"]);
    const overrides = r.sources[1]!.text;
    expect(overrides).toBe('--layout "cfg 2 x dps 4"');
    expect(overrides.slice(d.start.offset, d.end.offset)).toBe("dps");
    expect([d.start.line, d.start.column]).toEqual([1, 19]);
    expect(d.suggestions).toContain("dsp");
  });

  it("checks a layout override against the world like the file's layout (OD3101 with the layouts that fit)", () => {
    const r = compile(DSP, { layout: "cfg 2 x dsp 2", overridesPath: "<command line>" });
    const d = r.diagnostics.find((x) => x.code === "OD3101")!;
    expect(d.file).toBe("<command line>");
    expect(r.sources[1]!.text.slice(d.start.offset, d.end.offset)).toBe("cfg 2 x dsp 2");
    expect(d.suggestions).toContain("cfg 2 x dsp 4");
  });

  it("keeps the file's own values at their places when an override breaks them", () => {
    const r = compile(DSP, { world: 4 });
    const d = r.diagnostics.find((x) => x.code === "OD3101")!;
    expect(d.file).toBe("pipelines/opensora-dsp.yaml");
    expect(DSP.text.slice(d.start.offset, d.end.offset)).toBe("cfg 2 x dsp 4");
  });

  it("checks numeric and named overrides with the schema's rules", () => {
    const r = compile(DSP, { world: 0, steps: 0, gpu: "h2000" });
    expect(r.diagnostics.every((d) => d.file === "<overrides>")).toBe(true);
    const at = (code: string) => r.diagnostics.filter((d) => d.code === code).map((d) => r.sources[1]!.text.slice(d.start.offset, d.end.offset));
    expect(at("OD2005").sort()).toEqual(["0", "0"]);
    expect(at("OD2004")).toEqual(["h2000"]);
    expect(r.diagnostics.find((d) => d.code === "OD2004")!.suggestions).toEqual(["h200"]);
  });

  it("adds a section the file lacks, and reports what it then misses at the override", () => {
    const noParallel = DSP.text.replace(/^parallel:.*\n/m, "");
    const r = compile({ path: "x.yaml", text: noParallel }, { layout: "dsp 8" });
    const missing = r.diagnostics.find((d) => d.code === "OD2002")!;
    expect(missing.file).toBe("<overrides>");
    expect(missing.message).toContain("world");
    expect(compile({ path: "x.yaml", text: noParallel }, { layout: "dsp 8", world: 8 }).plan!.mesh.world).toBe(8);
  });

  it("refuses a ranks-per-node that is not a whole number of at least 1, at its position", () => {
    const r = compile(DSP, { ranksPerNode: 0 });
    expect(r.plan).toBeUndefined();
    const d = r.diagnostics.find((x) => x.code === "OD2005")!;
    expect(r.sources[1]!.text.slice(d.start.offset, d.end.offset)).toBe("0");
  });

  it("gives a Spec value's problems positions in its printed YAML", () => {
    const spec = { ...dspSpec(), scheduler: { kind: "iddpm", steps: "many" } } as unknown as Spec;
    const r = compile(spec);
    const d = r.diagnostics.find((x) => x.code === "OD2003")!;
    expect(d.file).toBe("<spec>");
    expect(r.sources[0]!.text.slice(d.start.offset, d.end.offset)).toBe("many");
    expect(d.start.line).toBeGreaterThan(1);
  });

  it("never throws for input that is not a pipeline", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [42, null, undefined, cyclic, [], "", "version: [", { path: "a.odit", text: "model {" }] as unknown[]) {
      const r = compile(bad as Spec);
      expect(r.plan).toBeUndefined();
      expect(errorsOf(r).length).toBeGreaterThan(0);
    }
    expect(errorsOf(compile(cyclic as unknown as Spec))).toEqual(["OD2009"]);
  });

  it("stops at syntax errors, before the overrides are checked", () => {
    const r = compile({ path: "x.yaml", text: `${DSP.text}\n  bad: [` }, { layout: "nonsense" });
    expect(r.plan).toBeUndefined();
    expect(r.diagnostics.every((d) => d.code.startsWith("OD10"))).toBe(true);
  });

  it("runs the README's sweep over frame counts and layouts", () => {
    const log: string[] = [];
    // The README's example, with console.log replaced by log.push and the file found relative to this test.
    const base = compile({ path: "pipelines/opensora-dsp.yaml", text: readFileSync(new URL("opensora-dsp.yaml", PIPELINES), "utf8") });
    if (!base.spec) throw new Error(base.diagnostics.map((d) => d.message).join("\n"));
    for (const frames of [16, 32, 64]) {
      for (const layout of ["cfg 2 x dsp 4", "dsp 8", "cfg 2 x ulysses 4"]) {
        const { plan, diagnostics } = compile({ ...base.spec, video: { ...base.spec.video!, frames } }, { layout });
        if (!plan) {
          log.push(`${frames} frames, ${layout}: ${diagnostics.filter((d) => d.severity === "error").map((d) => d.message).join(" ")}`);
          continue;
        }
        const gib = (plan.cost.peakBytesPerRank / 2 ** 30).toFixed(2);
        log.push(`${String(frames).padStart(2)} frames  ${layout.padEnd(17)}  ${plan.cost.totalSeconds.toFixed(2)} s  ${gib} GiB/rank  ${plan.hash.slice(0, 12)}`);
      }
    }
    expect(log).toHaveLength(9);
    for (const line of log) expect(line).toMatch(/^\d\d frames {2}[a-z0-9 ]+ {2,}\d+\.\d\d s {2}\d+\.\d\d GiB\/rank {2}[0-9a-f]{12}$/);
    // More frames cost more time under every layout.
    const seconds = log.map((l) => Number(/ (\d+\.\d\d) s /.exec(l)![1]));
    for (let i = 0; i < 3; i++) expect(seconds[i]!).toBeLessThan(seconds[i + 3]!);
  });
});

describe("tune", () => {
  it("ranks the layouts of 8 ranks by estimated time, cfg 2 x dsp 4 among them, and says why others failed", () => {
    const r = tune(DSP, { gpus: 8 });
    const layouts = r.ranked.map((t) => t.layout);
    expect(layouts).toContain("cfg 2 x dsp 4");
    expect(layouts).toContain("dsp 8");
    for (let i = 1; i < r.ranked.length; i++) expect(r.ranked[i]!.totalSeconds).toBeGreaterThanOrEqual(r.ranked[i - 1]!.totalSeconds);
    for (const t of r.ranked) {
      expect(t.plan.mesh.world).toBe(8);
      expect(t.commBytesPerStep).toBeGreaterThan(0);
    }
    expect(r.ranked.length + r.failed.length).toBe(r.layouts.length);
    for (const f of r.failed) expect(f.reason.length).toBeGreaterThan(0);
  });

  it("lists nothing for a pipeline that does not pass the schema, and keeps its diagnostics", () => {
    const r = tune({ path: "x.yaml", text: "version: 1\n" }, { gpus: 8 });
    expect(r.layouts).toEqual([]);
    expect(errorsOf(r.base)).toContain("OD2002");
  });
});

describe("a hardware profile of the caller's own", () => {
  it("replaces the named GPU in the memory check and the cost estimate", () => {
    const text = readFileSync("pipelines/opensora-dsp.yaml", "utf8");
    const named = compile({ path: "pipelines/opensora-dsp.yaml", text }, { fileExists: () => true });
    const half = { ...GPU_PROFILES.h100, name: "h100-half", title: "an H100 at half its rates", matrixFlops: GPU_PROFILES.h100.matrixFlops / 2, memoryBandwidth: GPU_PROFILES.h100.memoryBandwidth / 2 };
    const custom = compile({ path: "pipelines/opensora-dsp.yaml", text }, { fileExists: () => true, gpuProfile: half });
    expect(custom.plan!.cost.gpu).toBe("h100-half");
    // The steps (not the fixed warm-up of NCCL's first connections, counted with the setup) take longer.
    const steps = (c: typeof named) => c.plan!.cost.totalSeconds - c.plan!.cost.setupSeconds;
    expect(steps(custom)).toBeGreaterThan(1.5 * steps(named));
  });
});
