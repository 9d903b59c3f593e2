/**
 * A plan.decode section written by the tests themselves, following the contract (.helpers/vae-contract.md;
 * compiler/plan/types.ts PlanDecode), so the native decode is tested on programs whose every op the test chose:
 * the SD-VAE decoder (models.md §10.1) at any widths (the goldens' tiny one: test/fixtures/goldens/vae/vae.json),
 * lowered for a split (whole frames, tiles, or row bands over the decode group) as one pass of NHWC ops:
 *
 *   conv2d post_quant_conv (k1) → conv2d decoder.conv_in (k3) → resnet mid 0 → attention mid 0 → resnet mid 1
 *   → up_blocks 0..n−1 (layers_per_block + 1 resnets; upsample_nearest ×2 and conv2d k3 but on the last)
 *   → group_norm conv_norm_out (SiLU) → conv2d conv_out (k3, 3 channels)
 *   resnet:    group_norm norm1 (SiLU) → conv1 → group_norm norm2 (SiLU) → conv2 → [conv_shortcut k1] → add
 *   attention: group_norm → linear to_q; to_k, to_v into one kv buffer [rows, 2C] → [all_gather kv over the
 *              decode group] → cross_attention (heads 1, head dim C, scale 1/√C, no mask) → linear to_out.0 → add
 *
 * Under the patch split every 3x3 conv2d has `halo` and every group_norm `reduce` over the `decode` group. Every
 * buffer gets bytes of its own (no sharing: the tiny decoder's arena is small). Weights are listed by their
 * diffusers names with the original LDM names (and the old diffusers attention names) as aliases.
 * `stages` says which op's output is each stage the goldens store (sd_vae.py `decode`).
 */
import { canonicalJson, sha256 } from "../../compiler/plan/serialize.js";

/** The decoder's settings (vae.json `decoder`). */
export interface DecoderConfig {
  readonly latent_channels: number;
  readonly block_out_channels: readonly number[];
  readonly layers_per_block: number;
  readonly groups: number;
  readonly eps: number;
  readonly scale: number;
}

export type TestSplit =
  | { readonly kind: "whole" }
  | { readonly kind: "tiled"; readonly tile: { readonly height: number; readonly width: number }; readonly overlap: number }
  | { readonly kind: "patch"; readonly parts: number };

export interface DecodeLayout {
  readonly samples: number;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly framesPerPass: number;
  readonly split: TestSplit;
  readonly ranks: readonly number[];
  readonly checkpoint: string;
  readonly weightsSeed?: number;
}

export interface DecoderWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly aliases: readonly string[];
}

/** The decoder's tensors in diffusers naming, with their other official names (sd_vae.py decoder_tensors). */
export function decoderWeights(cfg: DecoderConfig): DecoderWeight[] {
  const out: DecoderWeight[] = [];
  const add = (name: string, shape: number[]): void => {
    out.push({ name, shape, aliases: aliasesOf(name, cfg.block_out_channels.length) });
  };
  const conv = (p: string, o: number, i: number, k: number): void => {
    add(`${p}.weight`, [o, i, k, k]);
    add(`${p}.bias`, [o]);
  };
  const norm = (p: string, c: number): void => {
    add(`${p}.weight`, [c]);
    add(`${p}.bias`, [c]);
  };
  const resnet = (p: string, i: number, o: number): void => {
    norm(`${p}.norm1`, i);
    conv(`${p}.conv1`, o, i, 3);
    norm(`${p}.norm2`, o);
    conv(`${p}.conv2`, o, o, 3);
    if (i !== o) conv(`${p}.conv_shortcut`, o, i, 1);
  };
  const channels = [...cfg.block_out_channels].reverse();
  const top = channels[0]!;
  const L = cfg.latent_channels;
  conv("post_quant_conv", L, L, 1);
  conv("decoder.conv_in", top, L, 3);
  resnet("decoder.mid_block.resnets.0", top, top);
  norm("decoder.mid_block.attentions.0.group_norm", top);
  for (const lin of ["to_q", "to_k", "to_v", "to_out.0"]) {
    add(`decoder.mid_block.attentions.0.${lin}.weight`, [top, top]);
    add(`decoder.mid_block.attentions.0.${lin}.bias`, [top]);
  }
  resnet("decoder.mid_block.resnets.1", top, top);
  let prev = top;
  channels.forEach((c, i) => {
    for (let j = 0; j <= cfg.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : c, c);
    if (i < channels.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, 3);
    prev = c;
  });
  norm("decoder.conv_norm_out", prev);
  conv("decoder.conv_out", 3, prev, 3);
  return out;
}

const LDM_ATTENTION: Readonly<Record<string, string>> = { group_norm: "norm", to_q: "q", to_k: "k", to_v: "v", "to_out.0": "proj_out" };
const OLD_ATTENTION: Readonly<Record<string, string>> = { group_norm: "group_norm", to_q: "query", to_k: "key", to_v: "value", "to_out.0": "proj_attn" };

/**
 * The original LDM name of a diffusers decoder tensor (models.md §10.1): mid.block_1/2, mid.attn_1.{norm,q,k,v,
 * proj_out}, up.{n−1−i} (reverse order) with block.j and upsample.conv, norm_out, nin_shortcut; the same name
 * where both agree (post_quant_conv, conv_in, conv_out).
 */
export function ldmName(name: string, blocks: number): string {
  let m = /^decoder\.mid_block\.resnets\.(\d+)\.(.+)$/.exec(name);
  if (m) return `decoder.mid.block_${Number(m[1]) + 1}.${m[2]!.replace("conv_shortcut", "nin_shortcut")}`;
  m = /^decoder\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name);
  if (m) return `decoder.mid.attn_1.${LDM_ATTENTION[m[1]!]}.${m[2]}`;
  m = /^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/.exec(name);
  if (m) return `decoder.up.${blocks - 1 - Number(m[1])}.block.${m[2]}.${m[3]!.replace("conv_shortcut", "nin_shortcut")}`;
  m = /^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(weight|bias)$/.exec(name);
  if (m) return `decoder.up.${blocks - 1 - Number(m[1])}.upsample.conv.${m[2]}`;
  if (name.startsWith("decoder.conv_norm_out.")) return name.replace("decoder.conv_norm_out.", "decoder.norm_out.");
  return name;
}

function aliasesOf(name: string, blocks: number): string[] {
  const aliases: string[] = [];
  const ldm = ldmName(name, blocks);
  if (ldm !== name) aliases.push(ldm);
  const m = /^decoder\.mid_block\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name);
  if (m) aliases.push(`decoder.mid_block.attentions.0.${OLD_ATTENTION[m[1]!]}.${m[2]}`);
  return aliases;
}

/** The LDM shape of a tensor: the attention's 1x1-conv weights are [C, C, 1, 1] there. */
export function ldmShape(name: string, shape: readonly number[]): number[] {
  return /^decoder\.mid_block\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(name) ? [...shape, 1, 1] : [...shape];
}

/** Tile starts as the compiler places them: every tile − overlap pixels, the last at the edge. */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  if (tile >= size) return [0];
  const stride = tile - overlap;
  const count = Math.ceil((size - overlap) / stride);
  const starts = Array.from({ length: count - 1 }, (_, i) => i * stride);
  starts.push(size - tile);
  return starts;
}

interface Act {
  readonly name: string;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

type Json = Record<string, unknown>;

class PassBuilder {
  readonly ops: Json[] = [];
  readonly buffers: { name: string; shape: number[]; role: string }[] = [];
  /** The op whose output is each golden stage: its id and buffer. */
  readonly stages = new Map<string, { op: number; buffer: string }>();

  constructor(
    private readonly cfg: DecoderConfig,
    private readonly frames: number,
    private readonly patch: boolean,
    private readonly parts: number,
  ) {}

  buffer(name: string, h: number, w: number, c: number, role = "activation"): Act {
    this.buffers.push({ name, shape: [this.frames, h, w, c], role });
    return { name, height: h, width: w, channels: c };
  }

  raw(name: string, shape: number[]): string {
    this.buffers.push({ name, shape, role: "activation" });
    return name;
  }

  op(body: Json): number {
    const id = this.ops.length;
    this.ops.push({ id, ...body });
    return id;
  }

  conv(x: Act, weight: string, outChannels: number, kernel: 1 | 3, into: Act | string): Act {
    const out = typeof into === "string" ? this.buffer(into, x.height, x.width, outChannels) : into;
    this.op({
      op: "conv2d",
      x: x.name,
      weight: `${weight}.weight`,
      bias: `${weight}.bias`,
      out: out.name,
      frames: this.frames,
      height: x.height,
      width: x.width,
      inChannels: x.channels,
      outChannels,
      kernel,
      ...(kernel === 3 && this.patch ? { halo: { axis: "decode" } } : {}),
    });
    return out;
  }

  norm(x: Act, weight: string, silu: boolean, name: string): Act {
    const out = this.buffer(name, x.height, x.width, x.channels);
    this.op({
      op: "group_norm",
      x: x.name,
      weight: `${weight}.weight`,
      bias: `${weight}.bias`,
      out: out.name,
      frames: this.frames,
      height: x.height,
      width: x.width,
      channels: x.channels,
      groups: this.cfg.groups,
      eps: this.cfg.eps,
      silu,
      ...(this.patch ? { reduce: { axis: "decode" } } : {}),
    });
    return out;
  }

  add(a: Act, b: Act, name: string): Act {
    const out = this.buffer(name, a.height, a.width, a.channels);
    this.op({ op: "add", a: a.name, b: b.name, out: out.name, count: this.frames * a.height * a.width * a.channels });
    return out;
  }

  resnet(x: Act, prefix: string, outChannels: number, name: string): Act {
    const h1 = this.norm(x, `${prefix}.norm1`, true, `${name}.norm1`);
    const c1 = this.conv(h1, `${prefix}.conv1`, outChannels, 3, `${name}.conv1`);
    const h2 = this.norm(c1, `${prefix}.norm2`, true, `${name}.norm2`);
    const c2 = this.conv(h2, `${prefix}.conv2`, outChannels, 3, `${name}.conv2`);
    const shortcut = x.channels === outChannels ? x : this.conv(x, `${prefix}.conv_shortcut`, outChannels, 1, `${name}.shortcut`);
    return this.add(shortcut, c2, `${name}.out`);
  }

  attention(x: Act, prefix: string, name: string): Act {
    const C = x.channels;
    const pixels = x.height * x.width;
    const rows = this.frames * pixels;
    const g = this.norm(x, `${prefix}.group_norm`, false, `${name}.norm`);
    const linear = (w: string, from: string, out: string, columns?: { offset: number; stride: number }): number =>
      this.op({
        op: "linear",
        x: from,
        weight: `${prefix}.${w}.weight`,
        bias: `${prefix}.${w}.bias`,
        out,
        rows,
        inFeatures: C,
        outFeatures: C,
        activation: "none",
        ...(columns ? { outColumns: columns } : {}),
      });
    const q = this.raw(`${name}.q`, [rows, C]);
    linear("to_q", g.name, q);
    const kv = this.raw(`${name}.kv`, [rows, 2 * C]);
    linear("to_k", g.name, kv, { offset: 0, stride: 2 * C });
    linear("to_v", g.name, kv, { offset: C, stride: 2 * C });
    let keys = kv;
    if (this.patch) {
      keys = this.raw(`${name}.kv.all`, [this.frames * this.parts * pixels, 2 * C]);
      this.op({ op: "all_gather", axis: "decode", x: kv, out: keys, dims: [1, this.frames, pixels, 2 * C], dim: 2 });
    }
    const o = this.raw(`${name}.attn`, [rows, C]);
    this.op({ op: "cross_attention", q, kv: keys, out: o, samples: this.frames, queries: pixels, keys: this.parts * pixels, heads: 1, headDim: C, scale: 1 / Math.sqrt(C) });
    const p = this.buffer(`${name}.proj`, x.height, x.width, C);
    linear("to_out.0", o, p.name);
    return this.add(p, x, `${name}.out`);
  }

  stage(name: string): void {
    const op = this.ops.length - 1;
    this.stages.set(name, { op, buffer: String(this.ops[op]!["out"]) });
  }

  lower(height: number, width: number): { input: string; output: string } {
    const cfg = this.cfg;
    const channels = [...cfg.block_out_channels].reverse();
    const L = cfg.latent_channels;
    const input = this.buffer("decode.input", height, width, L, "input");
    let x = this.conv(input, "post_quant_conv", L, 1, "post_quant_conv");
    this.stage("post_quant_conv");
    x = this.conv(x, "decoder.conv_in", channels[0]!, 3, "conv_in");
    this.stage("conv_in");
    x = this.resnet(x, "decoder.mid_block.resnets.0", channels[0]!, "mid.res0");
    this.stage("mid_block.resnets.0");
    x = this.attention(x, "decoder.mid_block.attentions.0", "mid.attn");
    this.stage("mid_block.attentions.0");
    x = this.resnet(x, "decoder.mid_block.resnets.1", channels[0]!, "mid.res1");
    this.stage("mid_block.resnets.1");
    channels.forEach((c, i) => {
      for (let j = 0; j <= cfg.layers_per_block; j++) x = this.resnet(x, `decoder.up_blocks.${i}.resnets.${j}`, c, `up${i}.res${j}`);
      if (i < channels.length - 1) {
        const up = this.buffer(`up${i}.upsample`, 2 * x.height, 2 * x.width, x.channels);
        this.op({ op: "upsample_nearest", x: x.name, out: up.name, frames: this.frames, height: x.height, width: x.width, channels: x.channels, factor: 2 });
        x = this.conv(up, `decoder.up_blocks.${i}.upsamplers.0.conv`, c, 3, `up${i}.upsample.conv`);
      }
      this.stage(`up_blocks.${i}`);
    });
    x = this.norm(x, "decoder.conv_norm_out", true, "norm_out");
    this.stage("conv_norm_out");
    const output = this.buffer("decode.output", x.height, x.width, 3, "output");
    this.conv(x, "decoder.conv_out", 3, 3, output);
    return { input: input.name, output: output.name };
  }
}

/** The upsampling factor of the decoder: 2 per up block but the last. */
export function factorOf(cfg: DecoderConfig): number {
  return 2 ** (cfg.block_out_channels.length - 1);
}

export interface DecodeSection {
  /** plan.decode as JSON. */
  readonly decode: Json;
  /** The op whose output is each golden stage. */
  readonly stages: ReadonlyMap<string, { readonly op: number; readonly buffer: string }>;
}

/** plan.decode for a layout, every field the contract names. */
export function decodeSection(cfg: DecoderConfig, layout: DecodeLayout): DecodeSection {
  const { split } = layout;
  const patch = split.kind === "patch" && split.parts > 1;
  const parts = split.kind === "patch" ? split.parts : 1;
  const inH = split.kind === "tiled" ? split.tile.height : layout.height / parts;
  const inW = split.kind === "tiled" ? split.tile.width : layout.width;
  const b = new PassBuilder(cfg, layout.framesPerPass, patch, parts);
  const { input, output } = b.lower(inH, inW);
  let offset = 0;
  const buffers = b.buffers.map((buf) => {
    const bytes = buf.shape.reduce((n, d) => n * d, 1) * 4;
    const placed = { name: buf.name, shape: buf.shape, dtype: "f32", role: buf.role, offset, bytes };
    offset += Math.ceil(bytes / 256) * 256;
    return placed;
  });
  const rows = split.kind === "tiled" ? tileStarts(layout.height, split.tile.height, split.overlap) : [];
  const cols = split.kind === "tiled" ? tileStarts(layout.width, split.tile.width, split.overlap) : [];
  const tiles = split.kind === "tiled" ? rows.length * cols.length : 1;
  const f = factorOf(cfg);
  const decode: Json = {
    vae: "sd-vae-ft-ema",
    checkpoint: layout.checkpoint,
    weightsSeed: layout.weightsSeed ?? 0,
    dtype: "f32",
    scale: cfg.scale,
    latent: { channels: cfg.latent_channels, frames: layout.frames, height: layout.height, width: layout.width },
    image: { height: f * layout.height, width: f * layout.width },
    samples: layout.samples,
    framesPerPass: layout.framesPerPass,
    split:
      split.kind === "whole"
        ? { kind: "whole" }
        : split.kind === "tiled"
          ? { kind: "tiled", tile: split.tile, overlap: split.overlap, rows, cols }
          : { kind: "patch", axis: "decode", parts: split.parts },
    passes: Math.ceil(layout.frames / layout.framesPerPass) * tiles,
    ranks: [...layout.ranks],
    weights: decoderWeights(cfg).map((w) => ({ name: w.name, shape: w.shape, dtype: "f32", ...(w.aliases.length > 0 ? { aliases: w.aliases } : {}) })),
    buffers,
    arenaBytes: offset,
    input,
    output,
    program: b.ops,
    cost: { flopsPerPass: 0, secondsPerPass: 0, totalSeconds: 0, peakBytesPerRank: offset },
  };
  return { decode, stages: b.stages };
}

/**
 * The JSON text of `plan` (a compiled DiT plan, its geometry the latent the decode reads) with `decode` attached,
 * its hash recomputed; `decodeGroups`: plan.mesh.groups.decode (the patch split's groups, global ranks in member
 * order).
 */
export function withDecode(plan: Record<string, unknown> & { readonly mesh: { readonly groups: object } }, decode: Json, decodeGroups?: readonly (readonly number[])[]): string {
  const mesh = decodeGroups ? { ...plan.mesh, groups: { ...plan.mesh.groups, decode: decodeGroups } } : plan.mesh;
  const rest: Record<string, unknown> = { ...plan, mesh, decode };
  delete rest["hash"];
  return canonicalJson({ ...rest, hash: sha256(canonicalJson(rest)) });
}
