/**
 * `opendit plan` and `opendit tune` through the CLI, in-process: the text explanation, the JSON plan (a
 * Plan with its format, version and a hash that matches), -o, overrides reported at their place on the
 * command line, and the exit codes 0 to 3.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { createDiagnostic } from "../../diagnostics/diagnostic.js";
import { canonicalJson, sha256 } from "../../compiler/plan/serialize.js";
import type { Plan } from "../../compiler/plan/types.js";
import { formatBytes, formatSeconds } from "../../cli/render/units.js";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoFile } from "./support/fixture-dir.js";

const root = fixtureDir({
  "opensora-dsp.yaml": repoFile("pipelines/opensora-dsp.yaml"),
  "opensora-dsp-pab.yaml": repoFile("pipelines/opensora-dsp-pab.yaml"),
  "opensora-dsp.odit": repoFile("pipelines/opensora-dsp.odit"),
  "pab-no-mlp.yaml": repoFile("pipelines/opensora-dsp-pab.yaml").replace(/^ {4}mlp:\n.*\n/m, ""),
  "broken.yaml": "version: 1\nname: broken\nmodel: { family: stdit, variant: STDiT-XL/9, checkpoint: random }\n",
  "dit-tiled.yaml": repoFile("pipelines/dit-xl-2.yaml").replace(/^vae: .*$/m, "vae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: { tile: 128, overlap: 32 } }"),
  "quickstart.yaml": repoFile("pipelines/quickstart.yaml"),
});

describe("opendit plan", () => {
  it("explains the plan as text: model, geometry, mesh and groups, memory, time, program, hash", async () => {
    const r = await run(["plan", "opensora-dsp.yaml", "-q"], { cwd: root });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const plan = compile({ path: join(root, "opensora-dsp.yaml"), text: repoFile("pipelines/opensora-dsp.yaml") }).plan!;
    expect(r.stdout).toMatch(/^opensora-dsp: plan [0-9a-f]{12} \(opendit-plan v1\)\n/);
    expect(r.stdout).toMatch(/^model {5}Open-Sora 1\.0 STDiT.*STDiT-XL\/2$/m);
    expect(r.stdout).toContain("16 frames of 512x512 -> latent 4 x 16 x 64 x 64 -> 16 x 32 x 32 = 16,384 tokens");
    expect(r.stdout).toMatch(/^mesh {6}8 ranks on 1 node: cfg 2 x dsp 4$/m);
    expect(r.stdout).toMatch(/^ {10}dsp +4 +stride 1 +2 groups in a node +\[0-3\] \[4-7\]$/m);
    expect(r.stdout).toMatch(/^ {10}cfg +2 +stride 4 +4 groups in a node +\[0 4\] \[1 5\] \[2 6\] \[3 7\]$/m);
    expect(r.stdout).toMatch(/^ {10}weights +\d+\.\d+ GiB +\d+ tensors, bf16$/m);
    expect(r.stdout).toMatch(/^ {10}peak +\S+ GiB +weights \+ arena/m);
    expect(r.stdout).toMatch(/^time {6}step .* on average/m);
    expect(r.stdout).toMatch(/end to end .* for 100 steps/);
    expect(r.stdout).toMatch(/^caching {3}spatial +computed 100\/100: no PAB window/m);
    expect(r.stdout).toMatch(/^ {12}dsp +all_to_all +56 calls/m);
    expect(r.stdout).toMatch(/^ {12}cfg +all_gather +1 call/m);
    // The VAE decode: its rows split over the 8 ranks that hold the sample (every axis but dp).
    expect(r.stdout).toMatch(/^ {10}decode +8 +all but dp +1 group in a node +\[0-7\]$/m);
    expect(r.stdout).toMatch(/^decode {4}sd-vae-ft-ema, bf16: 140 tensors from ckpts\/sd-vae-ft-ema\/diffusion_pytorch_model\.safetensors$/m);
    expect(r.stdout).toMatch(/^ {10}16 frames of 512x512, 1 sample per dp group: 16 passes a sample of 1 frame; ranks 0-7$/m);
    expect(r.stdout).toMatch(/^ {10}split {3}patch over 8 ranks: bands of 8 latent rows \(64 pixel rows\) each; halo rows exchanged,\n {18}GroupNorm reduced exactly$/m);
    const d = plan.decode!;
    expect(r.stdout).toContain(`memory  peak ${formatBytes(d.cost.peakBytesPerRank)} per rank: arena ${formatBytes(d.arenaBytes)} + weights 94.4 MiB`);
    expect(r.stdout).toMatch(new RegExp(`^ {10}time {4}${formatSeconds(d.cost.secondsPerPass)} a pass, ${formatSeconds(d.cost.totalSeconds)} in all \\(estimated on h100\\)$`, "m"));
    expect(r.stdout.endsWith(`hash      sha256 ${plan.hash}\n`)).toBe(true);
    for (const line of r.stdout.split("\n")) expect(line.length).toBeLessThanOrEqual(120);
  });

  it("shows a tiled decode's tiles, and says when nothing is decoded", async () => {
    const tiled = await run(["plan", "dit-tiled.yaml", "-q"], { cwd: root });
    expect(tiled.code).toBe(0);
    expect(tiled.stdout).toMatch(/^decode {4}sd-vae-ft-mse, bf16: 140 tensors from random weights \(seed 0\)$/m);
    expect(tiled.stdout).toMatch(/^ {10}256x256, 4 samples per dp group: 9 passes a sample of 1 frame; ranks 0$/m);
    expect(tiled.stdout).toMatch(/^ {10}split {3}tiled: 9 tiles \(3 x 3\) of 16x16 latent pixels \(128x128\), overlapping by 4 \(32 pixels\)$/m);
    const latents = await run(["plan", "quickstart.yaml", "-q"], { cwd: root });
    expect(latents.stdout).toMatch(/^decode {4}none: the run writes latents only$/m);
    expect(latents.stdout).not.toMatch(/^ {10}decode /m);
  });

  it("shows each attention kind's compute/reuse letters over the steps under PAB, and the MLP broadcast", async () => {
    const r = await run(["plan", "opensora-dsp-pab.yaml", "-q"], { cwd: root });
    expect(r.code).toBe(0);
    // 100 steps do not fit one line: the summary first, the letters (runs of one letter apart) below.
    expect(r.stdout).toMatch(/^caching {3}spatial {3}computed 76\/100 {2}\[every 2 in \(450, 930\)\]:\n {20}C{7} B C B C B /m);
    expect(r.stdout).toMatch(/^ {10}mlp +spatial blocks 0-4: kept at steps 13 \(reused 14-15\), 21/m);
    expect(r.stdout).toMatch(/^ {10}9 distinct step patterns/m);

    // 30 steps fit: letters and summary on one line. (MLP broadcast names steps past 30, so it is left out.)
    const short = await run(["plan", "pab-no-mlp.yaml", "-q", "--steps", "30"], { cwd: root });
    expect(short.code).toBe(0);
    expect(short.stdout).toMatch(/^caching {3}spatial +C+ B C B [BC ]* {2}computed \d+\/30 {2}\[every 2 in \(450, 930\)\]$/m);
    expect(short.stdout).toMatch(/^ {10}temporal +C+ B+ C BBB C [BC ]* {2}computed \d+\/30 {2}\[every 4 in \(450, 930\)\]$/m);
  });

  it("writes the whole plan as canonical JSON that is a Plan with a matching hash", async () => {
    const r = await run(["plan", "opensora-dsp.odit", "--format", "json", "-q"], { cwd: root });
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as Plan;
    expect(plan.format).toBe("opendit-plan");
    expect(plan.version).toBe(1);
    const { hash, ...body } = plan;
    expect(hash).toBe(sha256(canonicalJson(body)));
    expect(plan.mesh.world).toBe(8);
    expect(plan.program.step.length).toBeGreaterThan(0);
    const yaml = await run(["plan", "opensora-dsp.yaml", "-f", "json", "-q"], { cwd: root });
    expect((JSON.parse(yaml.stdout) as Plan).hash).toBe(hash);
  });

  it("writes the plan to a file with -o and prints nothing on stdout", async () => {
    const r = await run(["plan", "opensora-dsp.yaml", "-f", "json", "-q", "-o", "plan.json", "--layout", "dsp 8"], { cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const plan = JSON.parse(readFileSync(join(root, "plan.json"), "utf8")) as Plan;
    expect(plan.mesh.groups.dsp).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
  });

  it("reports warnings on stderr unless -q, keeping stdout for the plan", async () => {
    const r = await run(["plan", "opensora-dsp.yaml", "-f", "json"], { cwd: root });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("[OD3501 checkpoint-missing]");
    expect(() => JSON.parse(r.stdout) as unknown).not.toThrow();
  });

  it("reports a bad --layout at its place on the command line (OD1202), exit 1, no plan", async () => {
    const r = await run(["plan", "opensora-dsp.yaml", "--layout", "cfg 2 x dps 4"], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^<command line>:1:19 {2}error {2}Unknown parallel axis `dps`\. {2}\[OD1202 layout-unknown-axis\]$/m);
    expect(r.stderr).toContain('  1 | --layout "cfg 2 x dps 4"');
  });

  it("checks --layout against the world like a value in the file (OD3101 with its position and the layouts that fit)", async () => {
    const r = await run(["plan", "opensora-dsp.yaml", "--layout", "cfg 2 x dsp 8", "-q"], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^<command line>:1:11 {2}error {2}The layout `cfg 2 x dsp 8` uses 16 ranks.*\[OD3101 layout-product\]$/m);
    expect(r.stderr).toContain("`cfg 2 x dsp 4`");
    const fixed = await run(["plan", "opensora-dsp.yaml", "--layout", "cfg 2 x dsp 8", "--world", "16", "-q"], { cwd: root });
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/^mesh {6}16 ranks on 1 node: cfg 2 x dsp 8$/m);
  });

  it("reports the file's own errors like validate, exit 1", async () => {
    const r = await run(["plan", "broken.yaml"], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^broken\.yaml:\d+:\d+ {2}error /m);
    expect(r.stderr).toMatch(/\d+ problems? \(\d+ errors?/);
  });

  it("exits 2 for an unreadable file, a malformed number and an unknown format", async () => {
    const missing = await run(["plan", "nope.yaml"], { cwd: root });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("[OD9002 unreadable-file]");
    expect((await run(["plan", "opensora-dsp.yaml", "--world", "eight"], { cwd: root })).code).toBe(2);
    expect((await run(["plan", "opensora-dsp.yaml", "--format", "yaml"], { cwd: root })).code).toBe(2);
  });

  it("exits 3 when the compiler fails internally (OD9001), or throws", async () => {
    const failing: typeof compile = (source, options) => {
      const result = compile(source, options);
      const file = result.sources[0]!;
      const internal = createDiagnostic(file, { code: "OD9001", message: "Lowering failed: injected", range: { start: 0, end: 0 } });
      return { ...result, plan: undefined, diagnostics: [...result.diagnostics, internal] } as ReturnType<typeof compile>;
    };
    const reported = await run(["plan", "opensora-dsp.yaml", "-q"], { cwd: root, deps: { compile: failing } });
    expect(reported.code).toBe(3);
    expect(reported.stdout).toBe("");
    expect(reported.stderr).toContain("Lowering failed: injected  [OD9001 internal-error]");
    const throwing: typeof compile = () => {
      throw new Error("injected crash");
    };
    const crashed = await run(["plan", "opensora-dsp.yaml"], { cwd: root, deps: { compile: throwing } });
    expect(crashed.code).toBe(3);
    expect(crashed.stderr).toContain("internal error (OD9001): injected crash");
  });
});

describe("opendit tune", () => {
  it("ranks the layouts of 8 GPUs by estimated time, cfg 2 x dsp 4 among them", async () => {
    const r = await run(["tune", "opensora-dsp.yaml", "--gpus", "8", "--top", "20", "-q"], { cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^opensora-dsp on 8 x h100: \d+ layouts fit, \d+ lowered/);
    expect(r.stdout).toMatch(/^#  layout +est\. step +est\. total +memory\/rank +comm\/step$/m);
    expect(r.stdout).toMatch(/^ ?\d+ {2}cfg 2 x dsp 4 +\S+ m?s +\S+ m?s +\S+ [KMG]iB +\S+ [KMG]iB$/m);
    expect(r.stdout).toMatch(/^ ?\d+ {2}dsp 8 /m);
  });

  it("shows the best --top K, and the same ranking as JSON", async () => {
    const table = await run(["tune", "opensora-dsp.yaml", "--gpus", "8", "--top", "2", "--gpu", "h200"], { cwd: root });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/on 8 x h200: .*; the best 2 by estimated end-to-end time/);
    expect(table.stdout.split("\n").filter((l) => /^\d {2}\S/.test(l))).toHaveLength(2);
    const json = await run(["tune", "opensora-dsp.yaml", "--gpus", "8", "-f", "json"], { cwd: root });
    const value = JSON.parse(json.stdout) as { ranked: { layout: string; totalSeconds: number; hash: string }[]; failed: { layout: string; reason: string }[] };
    expect(value.ranked).toHaveLength(5);
    expect(value.ranked.map((t) => t.totalSeconds)).toEqual([...value.ranked.map((t) => t.totalSeconds)].sort((a, b) => a - b));
    for (const f of value.failed) expect(f.reason).not.toBe("");
  });

  it("reports the pipeline's errors when it cannot be tuned, exit 1; and usage errors, exit 2", async () => {
    const broken = await run(["tune", "broken.yaml", "--gpus", "8"], { cwd: root });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^broken\.yaml:\d+:\d+ {2}error /m);
    expect((await run(["tune", "opensora-dsp.yaml", "--gpus", "1"], { cwd: root })).code).toBe(2);
    expect((await run(["tune", "opensora-dsp.yaml"], { cwd: root })).code).toBe(2);
    expect((await run(["tune", "nope.yaml", "--gpus", "8"], { cwd: root })).code).toBe(2);
  });
});
