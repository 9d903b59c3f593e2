/**
 * The op program of one decode pass (the contract's order, diffusers' AutoencoderKL.decode): post_quant_conv,
 * decoder.conv_in, the mid block (resnet, single-head attention, resnet), the four up blocks (three resnets
 * each, nearest ×2 upsampling and a 3x3 convolution after the first three), GroupNorm with SiLU, conv_out to
 * 3 channels. Activations are NHWC, [frames, height, width, channels], one buffer per op output; the memory
 * planner lets them share bytes by liveness.
 *
 * - resnet (ResnetBlock2D): group_norm(norm1, SiLU) → conv1 3x3 → group_norm(norm2, SiLU) → conv2 3x3, plus
 *   the input (through conv_shortcut 1x1 where the channels change).
 * - attention (diffusers Attention of the mid block, heads 1, head dim = channels): group_norm (no SiLU) →
 *   to_q; to_k and to_v into one packed kv buffer → cross_attention of each frame's pixels to all its pixels
 *   (no mask), scale 1/√channels → to_out.0, plus the input.
 * Under the patch split (`band`), a rank holds `height` rows of each frame: 3x3 convolutions exchange halo rows
 * with the decode group's neighbours, GroupNorm reduces its statistics over the group, and attention gathers
 * the group's k/v rows in member order (keys in global row-major order) before attending; every other op is
 * per pixel and needs nothing.
 */
import type { VaeDecoderInfo } from "../../models/vae/index.js";
import type { VaeResnet } from "../../models/vae/sd-vae.js";
import type { ProgramBuilder } from "../program/builder.js";

/** The input of one pass: frames of height x width latent pixels (a whole frame, a tile, or a band of rows). */
export interface DecodePassShape {
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  /** Patch split: the ranks of the decode group holding one band each (absent: the rank holds the whole input). */
  readonly parts?: number;
}

/** An NHWC activation: its buffer and sizes. */
interface Act {
  readonly name: string;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

class DecodeLowering {
  constructor(
    private readonly b: ProgramBuilder,
    private readonly vae: VaeDecoderInfo,
    private readonly shape: DecodePassShape,
  ) {}

  private get patch(): boolean {
    return (this.shape.parts ?? 1) > 1;
  }

  private act(name: string, height: number, width: number, channels: number): Act {
    return { name: this.b.temp(`decode.${name}`, [this.shape.frames, height, width, channels]), height, width, channels };
  }

  conv(x: Act, weight: string, outChannels: number, kernel: 1 | 3, into: Act | string): Act {
    const out = typeof into === "string" ? this.act(into, x.height, x.width, outChannels) : into;
    const halo = kernel === 3 && this.patch;
    this.b.step({
      op: "conv2d",
      x: x.name,
      weight: this.b.weight(`${weight}.weight`, [outChannels, x.channels, kernel, kernel]),
      bias: this.b.weight(`${weight}.bias`, [outChannels]),
      out: out.name,
      frames: this.shape.frames,
      height: x.height,
      width: x.width,
      inChannels: x.channels,
      outChannels,
      kernel,
      ...(halo ? { halo: { axis: "decode" as const } } : {}),
    });
    return out;
  }

  norm(x: Act, weight: string, silu: boolean, name: string): Act {
    const out = this.act(name, x.height, x.width, x.channels);
    this.b.step({
      op: "group_norm",
      x: x.name,
      weight: this.b.weight(`${weight}.weight`, [x.channels]),
      bias: this.b.weight(`${weight}.bias`, [x.channels]),
      out: out.name,
      frames: this.shape.frames,
      height: x.height,
      width: x.width,
      channels: x.channels,
      groups: this.vae.groups,
      eps: this.vae.eps,
      silu,
      ...(this.patch ? { reduce: { axis: "decode" as const } } : {}),
    });
    return out;
  }

  add(a: Act, b: Act, name: string): Act {
    const out = this.act(name, a.height, a.width, a.channels);
    this.b.step({ op: "add", a: a.name, b: b.name, out: out.name, count: this.shape.frames * a.height * a.width * a.channels });
    return out;
  }

  resnet(x: Act, r: VaeResnet, name: string): Act {
    const h1 = this.norm(x, `${r.prefix}.norm1`, true, `${name}.norm1`);
    const c1 = this.conv(h1, `${r.prefix}.conv1`, r.outChannels, 3, `${name}.conv1`);
    const h2 = this.norm(c1, `${r.prefix}.norm2`, true, `${name}.norm2`);
    const c2 = this.conv(h2, `${r.prefix}.conv2`, r.outChannels, 3, `${name}.conv2`);
    const shortcut = r.inChannels === r.outChannels ? x : this.conv(x, `${r.prefix}.conv_shortcut`, r.outChannels, 1, `${name}.shortcut`);
    return this.add(shortcut, c2, `${name}.out`);
  }

  attention(x: Act, prefix: string, name: string): Act {
    const C = x.channels;
    const { frames } = this.shape;
    const parts = this.shape.parts ?? 1;
    const pixels = x.height * x.width;
    const rows = frames * pixels;
    const g = this.norm(x, `${prefix}.group_norm`, false, `${name}.norm`);
    const linear = (weight: string, from: Act | string, out: string, width: number, columns?: { offset: number; stride: number }) =>
      this.b.step({
        op: "linear",
        x: typeof from === "string" ? from : from.name,
        weight: this.b.weight(`${prefix}.${weight}.weight`, [C, C]),
        bias: this.b.weight(`${prefix}.${weight}.bias`, [C]),
        out,
        rows,
        inFeatures: C,
        outFeatures: C,
        activation: "none",
        ...(columns ? { outColumns: columns } : {}),
      });
    const q = this.b.temp(`decode.${name}.q`, [rows, C]);
    linear("to_q", g, q, C);
    const kv = this.b.temp(`decode.${name}.kv`, [rows, 2 * C]);
    linear("to_k", g, kv, C, { offset: 0, stride: 2 * C });
    linear("to_v", g, kv, C, { offset: C, stride: 2 * C });
    let keys = kv;
    if (parts > 1) {
      // Every member's k/v rows of each frame, in member order: keys in the frame's global row-major order.
      keys = this.b.temp(`decode.${name}.kv.all`, [frames * parts * pixels, 2 * C]);
      this.b.step({ op: "all_gather", axis: "decode", x: kv, out: keys, dims: [1, frames, pixels, 2 * C], dim: 2 });
    }
    const o = this.b.temp(`decode.${name}.attn`, [rows, C]);
    this.b.step({ op: "cross_attention", q, kv: keys, out: o, samples: frames, queries: pixels, keys: parts * pixels, heads: 1, headDim: C, scale: 1 / Math.sqrt(C) });
    const p = this.act(`${name}.proj`, x.height, x.width, C);
    linear("to_out.0", o, p.name, C);
    return this.add(p, x, `${name}.out`);
  }

  upsample(x: Act, name: string): Act {
    const factor = 2;
    const out = this.act(name, factor * x.height, factor * x.width, x.channels);
    this.b.step({ op: "upsample_nearest", x: x.name, out: out.name, frames: this.shape.frames, height: x.height, width: x.width, channels: x.channels, factor });
    return out;
  }

  /** The whole pass; returns the input and output buffers. */
  lower(): { input: string; output: string } {
    const { frames, height, width } = this.shape;
    const layout = this.vae.layout();
    const input: Act = { name: this.b.buffer("decode.input", [frames, height, width, this.vae.latentChannels], "input"), height, width, channels: this.vae.latentChannels };
    let x = this.conv(input, "post_quant_conv", this.vae.latentChannels, 1, "post_quant_conv");
    x = this.conv(x, "decoder.conv_in", layout.midChannels, 3, "conv_in");
    x = this.resnet(x, layout.mid[0], "mid.res0");
    x = this.attention(x, "decoder.mid_block.attentions.0", "mid.attn");
    x = this.resnet(x, layout.mid[1], "mid.res1");
    for (const block of layout.upBlocks) {
      block.resnets.forEach((r, j) => (x = this.resnet(x, r, `up${block.index}.res${j}`)));
      if (block.upsample) {
        const up = this.upsample(x, `up${block.index}.upsample`);
        x = this.conv(up, block.upsample.prefix, block.upsample.channels, 3, `up${block.index}.upsample.conv`);
      }
    }
    x = this.norm(x, "decoder.conv_norm_out", true, "norm_out");
    const f = this.vae.factor;
    const output: Act = {
      name: this.b.buffer("decode.output", [frames, f * height, f * width, this.vae.outChannels], "output"),
      height: f * height,
      width: f * width,
      channels: this.vae.outChannels,
    };
    if (x.height !== output.height || x.width !== output.width) throw new Error(`the decoder upsampled ${height}x${width} to ${x.height}x${x.width}, not ×${f}`);
    this.conv(x, "decoder.conv_out", this.vae.outChannels, 3, output);
    return { input: input.name, output: output.name };
  }
}

/** Lowers one decode pass of `shape` into `b` (its weight table the VAE's decoder). */
export function lowerDecodePass(b: ProgramBuilder, vae: VaeDecoderInfo, shape: DecodePassShape): { input: string; output: string } {
  return new DecodeLowering(b, vae, shape).lower();
}
