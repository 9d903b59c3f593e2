/**
 * The SD-VAE decoder (diffusers AutoencoderKL f8, 4 latent channels; models.md §10.1) as compiler data: its
 * architecture, the order its blocks run in, and every checkpoint tensor the decode reads, by its diffusers
 * name with the other official names of the same tensor. sd-vae-ft-ema, sd-vae-ft-mse and sdxl-vae share this
 * decoder; only their weights differ.
 *
 * Names, cross-checked against diffusers' `Decoder` (models/autoencoders/vae.py: conv_in, mid_block,
 * up_blocks over the reversed block channels, conv_norm_out, conv_out), `UNetMidBlock2D` (resnets.0,
 * attentions.0, resnets.1), `UpDecoderBlock2D` (layers_per_block + 1 resnets, upsamplers.0.conv) and
 * `ResnetBlock2D` (norm1, conv1, norm2, conv2, conv_shortcut where the channels change), and against the
 * conversion tables of diffusers' scripts (convert_vae_pt_to_diffusers.py, convert_diffusers_to_original_*):
 * - the original LDM files (`vae-ft-ema-560000-ema-pruned.ckpt`) name the mid block `mid.block_1`,
 *   `mid.attn_1.{norm,q,k,v,proj_out}` (q/k/v/proj_out as 1x1 convolutions, [512, 512, 1, 1]) and `mid.block_2`;
 *   the up blocks `up.{3,2,1,0}` in reverse order of `up_blocks.{0,1,2,3}`, each with `block.{0..2}` and
 *   `upsample.conv`; `norm_out` for `conv_norm_out`; `nin_shortcut` for `conv_shortcut`;
 * - diffusers files written before 0.17 name the attention `query`, `key`, `value`, `proj_attn` (diffusers
 *   renames them on load, modeling_utils `_convert_deprecated_attention_blocks`), with the Linear shapes.
 * A loader accepts a tensor under its name or any alias; an alias's shape may differ only by trailing 1s.
 */
import type { WeightInfo } from "../types.js";

/** A decoder tensor: its diffusers name and shape, and its other official names. */
export interface VaeWeightInfo extends WeightInfo {
  readonly aliases: readonly string[];
}

/** The decoder's hyperparameters (diffusers AutoencoderKL config of every SD-VAE). */
export const SD_VAE = {
  /** `block_out_channels` of the encoder; the decoder runs them reversed: 512, 512, 256, 128. */
  blockOutChannels: [128, 256, 512, 512] as const,
  /** `layers_per_block`; each decoder up block has one more resnet. */
  layersPerBlock: 2,
  groups: 32,
  eps: 1e-6,
  latentChannels: 4,
  outChannels: 3,
  /** The latent is the VAE's z times this: the decoder's input is latent / scale. */
  scale: 0.18215,
  /** Pixels per latent pixel, each way (three ×2 upsamplers). */
  factor: 8,
} as const;

/** One ResnetBlock2D of the decoder: its diffusers prefix, its LDM prefix and its channels. */
export interface VaeResnet {
  readonly prefix: string;
  readonly ldm: string;
  readonly inChannels: number;
  readonly outChannels: number;
}

/** One up block: its resnets, and the ×2 upsampler after them (all but the last block). */
export interface VaeUpBlock {
  readonly index: number;
  readonly resnets: readonly VaeResnet[];
  readonly upsample?: { readonly prefix: string; readonly ldm: string; readonly channels: number };
}

/** The decoder's blocks in the order they run. */
export interface VaeDecoderLayout {
  /** Channels of the mid block (the last block_out_channels). */
  readonly midChannels: number;
  readonly mid: readonly [VaeResnet, VaeResnet];
  readonly upBlocks: readonly VaeUpBlock[];
  /** Channels of conv_norm_out and conv_out's input (the first block_out_channels). */
  readonly outChannels: number;
}

export function sdVaeDecoderLayout(): VaeDecoderLayout {
  const reversed = [...SD_VAE.blockOutChannels].reverse();
  const mid = reversed[0]!;
  const resnet = (prefix: string, ldm: string, inChannels: number, outChannels: number): VaeResnet => ({ prefix, ldm, inChannels, outChannels });
  const upBlocks: VaeUpBlock[] = [];
  let channels = mid;
  reversed.forEach((out, i) => {
    const ldmLevel = reversed.length - 1 - i;
    const resnets: VaeResnet[] = [];
    for (let j = 0; j <= SD_VAE.layersPerBlock; j++) {
      resnets.push(resnet(`decoder.up_blocks.${i}.resnets.${j}`, `decoder.up.${ldmLevel}.block.${j}`, j === 0 ? channels : out, out));
    }
    const last = i === reversed.length - 1;
    upBlocks.push({
      index: i,
      resnets,
      ...(last ? {} : { upsample: { prefix: `decoder.up_blocks.${i}.upsamplers.0.conv`, ldm: `decoder.up.${ldmLevel}.upsample.conv`, channels: out } }),
    });
    channels = out;
  });
  return {
    midChannels: mid,
    mid: [resnet("decoder.mid_block.resnets.0", "decoder.mid.block_1", mid, mid), resnet("decoder.mid_block.resnets.1", "decoder.mid.block_2", mid, mid)],
    upBlocks,
    outChannels: SD_VAE.blockOutChannels[0],
  };
}

/** Aliases that differ from the name (a name the same in both conventions has none). */
function others(name: string, ...aliases: string[]): string[] {
  return aliases.filter((a) => a !== name);
}

function conv(name: string, ldm: string, out: number, inp: number, k: number): VaeWeightInfo[] {
  return [
    { name: `${name}.weight`, shape: [out, inp, k, k], aliases: others(`${name}.weight`, `${ldm}.weight`) },
    { name: `${name}.bias`, shape: [out], aliases: others(`${name}.bias`, `${ldm}.bias`) },
  ];
}

function norm(name: string, ldm: string, channels: number): VaeWeightInfo[] {
  return [
    { name: `${name}.weight`, shape: [channels], aliases: others(`${name}.weight`, `${ldm}.weight`) },
    { name: `${name}.bias`, shape: [channels], aliases: others(`${name}.bias`, `${ldm}.bias`) },
  ];
}

function resnetWeights(r: VaeResnet): VaeWeightInfo[] {
  const w = [
    ...norm(`${r.prefix}.norm1`, `${r.ldm}.norm1`, r.inChannels),
    ...conv(`${r.prefix}.conv1`, `${r.ldm}.conv1`, r.outChannels, r.inChannels, 3),
    ...norm(`${r.prefix}.norm2`, `${r.ldm}.norm2`, r.outChannels),
    ...conv(`${r.prefix}.conv2`, `${r.ldm}.conv2`, r.outChannels, r.outChannels, 3),
  ];
  if (r.inChannels !== r.outChannels) w.push(...conv(`${r.prefix}.conv_shortcut`, `${r.ldm}.nin_shortcut`, r.outChannels, r.inChannels, 1));
  return w;
}

/** The mid block's single-head attention: 1x1 projections stored as Linears [C, C] (LDM: convs [C, C, 1, 1]). */
function attentionWeights(channels: number): VaeWeightInfo[] {
  const prefix = "decoder.mid_block.attentions.0";
  const ldm = "decoder.mid.attn_1";
  const projection = (name: string, ldmName: string, old: string): VaeWeightInfo[] => [
    { name: `${prefix}.${name}.weight`, shape: [channels, channels], aliases: [`${ldm}.${ldmName}.weight`, `${prefix}.${old}.weight`] },
    { name: `${prefix}.${name}.bias`, shape: [channels], aliases: [`${ldm}.${ldmName}.bias`, `${prefix}.${old}.bias`] },
  ];
  return [
    ...norm(`${prefix}.group_norm`, `${ldm}.norm`, channels),
    ...projection("to_q", "q", "query"),
    ...projection("to_k", "k", "key"),
    ...projection("to_v", "v", "value"),
    ...projection("to_out.0", "proj_out", "proj_attn"),
  ];
}

/** Every tensor the decode reads (the decoder and post_quant_conv), in the order the decoder runs them. */
export function sdVaeDecoderWeights(): VaeWeightInfo[] {
  const layout = sdVaeDecoderLayout();
  const C = SD_VAE.latentChannels;
  const w: VaeWeightInfo[] = [
    ...conv("post_quant_conv", "post_quant_conv", C, C, 1),
    ...conv("decoder.conv_in", "decoder.conv_in", layout.midChannels, C, 3),
    ...resnetWeights(layout.mid[0]),
    ...attentionWeights(layout.midChannels),
    ...resnetWeights(layout.mid[1]),
  ];
  for (const block of layout.upBlocks) {
    for (const r of block.resnets) w.push(...resnetWeights(r));
    if (block.upsample) w.push(...conv(block.upsample.prefix, block.upsample.ldm, block.upsample.channels, block.upsample.channels, 3));
  }
  w.push(
    ...norm("decoder.conv_norm_out", "decoder.norm_out", layout.outChannels),
    ...conv("decoder.conv_out", "decoder.conv_out", SD_VAE.outChannels, layout.outChannels, 3),
  );
  return w;
}
