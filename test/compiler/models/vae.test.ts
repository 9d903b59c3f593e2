/**
 * The SD-VAE decoder's checkpoint tensors (models.md §10.1) against a list written out here from diffusers'
 * AutoencoderKL decoder (Decoder, UNetMidBlock2D, UpDecoderBlock2D, ResnetBlock2D, Upsample2D, the mid block's
 * Attention) and the LDM <-> diffusers conversion tables (convert_vae_pt_to_diffusers.py and
 * convert_diffusers_to_original_stable_diffusion.py): every name, shape and alias (the original LDM name, and
 * the pre-0.17 diffusers attention names), in the order the decoder runs them.
 */
import { describe, expect, it } from "vitest";
import { VAE_DECODER_PARAMS } from "../../../compiler/cost/memory.js";
import { paramCount } from "../../../compiler/models/common.js";
import { DECODED_VAES, decodes, vaeDecoder } from "../../../compiler/models/vae/index.js";
import { SD_VAE, sdVaeDecoderLayout, sdVaeDecoderWeights } from "../../../compiler/models/vae/sd-vae.js";

/** [diffusers name, shape, aliases]. */
type Row = readonly [string, readonly number[], (readonly string[])?];
const TENSORS: readonly Row[] = [
    ["post_quant_conv.weight", [4, 4, 1, 1]],
    ["post_quant_conv.bias", [4]],
    ["decoder.conv_in.weight", [512, 4, 3, 3]],
    ["decoder.conv_in.bias", [512]],
    ["decoder.mid_block.resnets.0.norm1.weight", [512], ["decoder.mid.block_1.norm1.weight"]],
    ["decoder.mid_block.resnets.0.norm1.bias", [512], ["decoder.mid.block_1.norm1.bias"]],
    ["decoder.mid_block.resnets.0.conv1.weight", [512, 512, 3, 3], ["decoder.mid.block_1.conv1.weight"]],
    ["decoder.mid_block.resnets.0.conv1.bias", [512], ["decoder.mid.block_1.conv1.bias"]],
    ["decoder.mid_block.resnets.0.norm2.weight", [512], ["decoder.mid.block_1.norm2.weight"]],
    ["decoder.mid_block.resnets.0.norm2.bias", [512], ["decoder.mid.block_1.norm2.bias"]],
    ["decoder.mid_block.resnets.0.conv2.weight", [512, 512, 3, 3], ["decoder.mid.block_1.conv2.weight"]],
    ["decoder.mid_block.resnets.0.conv2.bias", [512], ["decoder.mid.block_1.conv2.bias"]],
    ["decoder.mid_block.attentions.0.group_norm.weight", [512], ["decoder.mid.attn_1.norm.weight"]],
    ["decoder.mid_block.attentions.0.group_norm.bias", [512], ["decoder.mid.attn_1.norm.bias"]],
    ["decoder.mid_block.attentions.0.to_q.weight", [512, 512], ["decoder.mid.attn_1.q.weight", "decoder.mid_block.attentions.0.query.weight"]],
    ["decoder.mid_block.attentions.0.to_q.bias", [512], ["decoder.mid.attn_1.q.bias", "decoder.mid_block.attentions.0.query.bias"]],
    ["decoder.mid_block.attentions.0.to_k.weight", [512, 512], ["decoder.mid.attn_1.k.weight", "decoder.mid_block.attentions.0.key.weight"]],
    ["decoder.mid_block.attentions.0.to_k.bias", [512], ["decoder.mid.attn_1.k.bias", "decoder.mid_block.attentions.0.key.bias"]],
    ["decoder.mid_block.attentions.0.to_v.weight", [512, 512], ["decoder.mid.attn_1.v.weight", "decoder.mid_block.attentions.0.value.weight"]],
    ["decoder.mid_block.attentions.0.to_v.bias", [512], ["decoder.mid.attn_1.v.bias", "decoder.mid_block.attentions.0.value.bias"]],
    ["decoder.mid_block.attentions.0.to_out.0.weight", [512, 512], ["decoder.mid.attn_1.proj_out.weight", "decoder.mid_block.attentions.0.proj_attn.weight"]],
    ["decoder.mid_block.attentions.0.to_out.0.bias", [512], ["decoder.mid.attn_1.proj_out.bias", "decoder.mid_block.attentions.0.proj_attn.bias"]],
    ["decoder.mid_block.resnets.1.norm1.weight", [512], ["decoder.mid.block_2.norm1.weight"]],
    ["decoder.mid_block.resnets.1.norm1.bias", [512], ["decoder.mid.block_2.norm1.bias"]],
    ["decoder.mid_block.resnets.1.conv1.weight", [512, 512, 3, 3], ["decoder.mid.block_2.conv1.weight"]],
    ["decoder.mid_block.resnets.1.conv1.bias", [512], ["decoder.mid.block_2.conv1.bias"]],
    ["decoder.mid_block.resnets.1.norm2.weight", [512], ["decoder.mid.block_2.norm2.weight"]],
    ["decoder.mid_block.resnets.1.norm2.bias", [512], ["decoder.mid.block_2.norm2.bias"]],
    ["decoder.mid_block.resnets.1.conv2.weight", [512, 512, 3, 3], ["decoder.mid.block_2.conv2.weight"]],
    ["decoder.mid_block.resnets.1.conv2.bias", [512], ["decoder.mid.block_2.conv2.bias"]],
    ["decoder.up_blocks.0.resnets.0.norm1.weight", [512], ["decoder.up.3.block.0.norm1.weight"]],
    ["decoder.up_blocks.0.resnets.0.norm1.bias", [512], ["decoder.up.3.block.0.norm1.bias"]],
    ["decoder.up_blocks.0.resnets.0.conv1.weight", [512, 512, 3, 3], ["decoder.up.3.block.0.conv1.weight"]],
    ["decoder.up_blocks.0.resnets.0.conv1.bias", [512], ["decoder.up.3.block.0.conv1.bias"]],
    ["decoder.up_blocks.0.resnets.0.norm2.weight", [512], ["decoder.up.3.block.0.norm2.weight"]],
    ["decoder.up_blocks.0.resnets.0.norm2.bias", [512], ["decoder.up.3.block.0.norm2.bias"]],
    ["decoder.up_blocks.0.resnets.0.conv2.weight", [512, 512, 3, 3], ["decoder.up.3.block.0.conv2.weight"]],
    ["decoder.up_blocks.0.resnets.0.conv2.bias", [512], ["decoder.up.3.block.0.conv2.bias"]],
    ["decoder.up_blocks.0.resnets.1.norm1.weight", [512], ["decoder.up.3.block.1.norm1.weight"]],
    ["decoder.up_blocks.0.resnets.1.norm1.bias", [512], ["decoder.up.3.block.1.norm1.bias"]],
    ["decoder.up_blocks.0.resnets.1.conv1.weight", [512, 512, 3, 3], ["decoder.up.3.block.1.conv1.weight"]],
    ["decoder.up_blocks.0.resnets.1.conv1.bias", [512], ["decoder.up.3.block.1.conv1.bias"]],
    ["decoder.up_blocks.0.resnets.1.norm2.weight", [512], ["decoder.up.3.block.1.norm2.weight"]],
    ["decoder.up_blocks.0.resnets.1.norm2.bias", [512], ["decoder.up.3.block.1.norm2.bias"]],
    ["decoder.up_blocks.0.resnets.1.conv2.weight", [512, 512, 3, 3], ["decoder.up.3.block.1.conv2.weight"]],
    ["decoder.up_blocks.0.resnets.1.conv2.bias", [512], ["decoder.up.3.block.1.conv2.bias"]],
    ["decoder.up_blocks.0.resnets.2.norm1.weight", [512], ["decoder.up.3.block.2.norm1.weight"]],
    ["decoder.up_blocks.0.resnets.2.norm1.bias", [512], ["decoder.up.3.block.2.norm1.bias"]],
    ["decoder.up_blocks.0.resnets.2.conv1.weight", [512, 512, 3, 3], ["decoder.up.3.block.2.conv1.weight"]],
    ["decoder.up_blocks.0.resnets.2.conv1.bias", [512], ["decoder.up.3.block.2.conv1.bias"]],
    ["decoder.up_blocks.0.resnets.2.norm2.weight", [512], ["decoder.up.3.block.2.norm2.weight"]],
    ["decoder.up_blocks.0.resnets.2.norm2.bias", [512], ["decoder.up.3.block.2.norm2.bias"]],
    ["decoder.up_blocks.0.resnets.2.conv2.weight", [512, 512, 3, 3], ["decoder.up.3.block.2.conv2.weight"]],
    ["decoder.up_blocks.0.resnets.2.conv2.bias", [512], ["decoder.up.3.block.2.conv2.bias"]],
    ["decoder.up_blocks.0.upsamplers.0.conv.weight", [512, 512, 3, 3], ["decoder.up.3.upsample.conv.weight"]],
    ["decoder.up_blocks.0.upsamplers.0.conv.bias", [512], ["decoder.up.3.upsample.conv.bias"]],
    ["decoder.up_blocks.1.resnets.0.norm1.weight", [512], ["decoder.up.2.block.0.norm1.weight"]],
    ["decoder.up_blocks.1.resnets.0.norm1.bias", [512], ["decoder.up.2.block.0.norm1.bias"]],
    ["decoder.up_blocks.1.resnets.0.conv1.weight", [512, 512, 3, 3], ["decoder.up.2.block.0.conv1.weight"]],
    ["decoder.up_blocks.1.resnets.0.conv1.bias", [512], ["decoder.up.2.block.0.conv1.bias"]],
    ["decoder.up_blocks.1.resnets.0.norm2.weight", [512], ["decoder.up.2.block.0.norm2.weight"]],
    ["decoder.up_blocks.1.resnets.0.norm2.bias", [512], ["decoder.up.2.block.0.norm2.bias"]],
    ["decoder.up_blocks.1.resnets.0.conv2.weight", [512, 512, 3, 3], ["decoder.up.2.block.0.conv2.weight"]],
    ["decoder.up_blocks.1.resnets.0.conv2.bias", [512], ["decoder.up.2.block.0.conv2.bias"]],
    ["decoder.up_blocks.1.resnets.1.norm1.weight", [512], ["decoder.up.2.block.1.norm1.weight"]],
    ["decoder.up_blocks.1.resnets.1.norm1.bias", [512], ["decoder.up.2.block.1.norm1.bias"]],
    ["decoder.up_blocks.1.resnets.1.conv1.weight", [512, 512, 3, 3], ["decoder.up.2.block.1.conv1.weight"]],
    ["decoder.up_blocks.1.resnets.1.conv1.bias", [512], ["decoder.up.2.block.1.conv1.bias"]],
    ["decoder.up_blocks.1.resnets.1.norm2.weight", [512], ["decoder.up.2.block.1.norm2.weight"]],
    ["decoder.up_blocks.1.resnets.1.norm2.bias", [512], ["decoder.up.2.block.1.norm2.bias"]],
    ["decoder.up_blocks.1.resnets.1.conv2.weight", [512, 512, 3, 3], ["decoder.up.2.block.1.conv2.weight"]],
    ["decoder.up_blocks.1.resnets.1.conv2.bias", [512], ["decoder.up.2.block.1.conv2.bias"]],
    ["decoder.up_blocks.1.resnets.2.norm1.weight", [512], ["decoder.up.2.block.2.norm1.weight"]],
    ["decoder.up_blocks.1.resnets.2.norm1.bias", [512], ["decoder.up.2.block.2.norm1.bias"]],
    ["decoder.up_blocks.1.resnets.2.conv1.weight", [512, 512, 3, 3], ["decoder.up.2.block.2.conv1.weight"]],
    ["decoder.up_blocks.1.resnets.2.conv1.bias", [512], ["decoder.up.2.block.2.conv1.bias"]],
    ["decoder.up_blocks.1.resnets.2.norm2.weight", [512], ["decoder.up.2.block.2.norm2.weight"]],
    ["decoder.up_blocks.1.resnets.2.norm2.bias", [512], ["decoder.up.2.block.2.norm2.bias"]],
    ["decoder.up_blocks.1.resnets.2.conv2.weight", [512, 512, 3, 3], ["decoder.up.2.block.2.conv2.weight"]],
    ["decoder.up_blocks.1.resnets.2.conv2.bias", [512], ["decoder.up.2.block.2.conv2.bias"]],
    ["decoder.up_blocks.1.upsamplers.0.conv.weight", [512, 512, 3, 3], ["decoder.up.2.upsample.conv.weight"]],
    ["decoder.up_blocks.1.upsamplers.0.conv.bias", [512], ["decoder.up.2.upsample.conv.bias"]],
    ["decoder.up_blocks.2.resnets.0.norm1.weight", [512], ["decoder.up.1.block.0.norm1.weight"]],
    ["decoder.up_blocks.2.resnets.0.norm1.bias", [512], ["decoder.up.1.block.0.norm1.bias"]],
    ["decoder.up_blocks.2.resnets.0.conv1.weight", [256, 512, 3, 3], ["decoder.up.1.block.0.conv1.weight"]],
    ["decoder.up_blocks.2.resnets.0.conv1.bias", [256], ["decoder.up.1.block.0.conv1.bias"]],
    ["decoder.up_blocks.2.resnets.0.norm2.weight", [256], ["decoder.up.1.block.0.norm2.weight"]],
    ["decoder.up_blocks.2.resnets.0.norm2.bias", [256], ["decoder.up.1.block.0.norm2.bias"]],
    ["decoder.up_blocks.2.resnets.0.conv2.weight", [256, 256, 3, 3], ["decoder.up.1.block.0.conv2.weight"]],
    ["decoder.up_blocks.2.resnets.0.conv2.bias", [256], ["decoder.up.1.block.0.conv2.bias"]],
    ["decoder.up_blocks.2.resnets.0.conv_shortcut.weight", [256, 512, 1, 1], ["decoder.up.1.block.0.nin_shortcut.weight"]],
    ["decoder.up_blocks.2.resnets.0.conv_shortcut.bias", [256], ["decoder.up.1.block.0.nin_shortcut.bias"]],
    ["decoder.up_blocks.2.resnets.1.norm1.weight", [256], ["decoder.up.1.block.1.norm1.weight"]],
    ["decoder.up_blocks.2.resnets.1.norm1.bias", [256], ["decoder.up.1.block.1.norm1.bias"]],
    ["decoder.up_blocks.2.resnets.1.conv1.weight", [256, 256, 3, 3], ["decoder.up.1.block.1.conv1.weight"]],
    ["decoder.up_blocks.2.resnets.1.conv1.bias", [256], ["decoder.up.1.block.1.conv1.bias"]],
    ["decoder.up_blocks.2.resnets.1.norm2.weight", [256], ["decoder.up.1.block.1.norm2.weight"]],
    ["decoder.up_blocks.2.resnets.1.norm2.bias", [256], ["decoder.up.1.block.1.norm2.bias"]],
    ["decoder.up_blocks.2.resnets.1.conv2.weight", [256, 256, 3, 3], ["decoder.up.1.block.1.conv2.weight"]],
    ["decoder.up_blocks.2.resnets.1.conv2.bias", [256], ["decoder.up.1.block.1.conv2.bias"]],
    ["decoder.up_blocks.2.resnets.2.norm1.weight", [256], ["decoder.up.1.block.2.norm1.weight"]],
    ["decoder.up_blocks.2.resnets.2.norm1.bias", [256], ["decoder.up.1.block.2.norm1.bias"]],
    ["decoder.up_blocks.2.resnets.2.conv1.weight", [256, 256, 3, 3], ["decoder.up.1.block.2.conv1.weight"]],
    ["decoder.up_blocks.2.resnets.2.conv1.bias", [256], ["decoder.up.1.block.2.conv1.bias"]],
    ["decoder.up_blocks.2.resnets.2.norm2.weight", [256], ["decoder.up.1.block.2.norm2.weight"]],
    ["decoder.up_blocks.2.resnets.2.norm2.bias", [256], ["decoder.up.1.block.2.norm2.bias"]],
    ["decoder.up_blocks.2.resnets.2.conv2.weight", [256, 256, 3, 3], ["decoder.up.1.block.2.conv2.weight"]],
    ["decoder.up_blocks.2.resnets.2.conv2.bias", [256], ["decoder.up.1.block.2.conv2.bias"]],
    ["decoder.up_blocks.2.upsamplers.0.conv.weight", [256, 256, 3, 3], ["decoder.up.1.upsample.conv.weight"]],
    ["decoder.up_blocks.2.upsamplers.0.conv.bias", [256], ["decoder.up.1.upsample.conv.bias"]],
    ["decoder.up_blocks.3.resnets.0.norm1.weight", [256], ["decoder.up.0.block.0.norm1.weight"]],
    ["decoder.up_blocks.3.resnets.0.norm1.bias", [256], ["decoder.up.0.block.0.norm1.bias"]],
    ["decoder.up_blocks.3.resnets.0.conv1.weight", [128, 256, 3, 3], ["decoder.up.0.block.0.conv1.weight"]],
    ["decoder.up_blocks.3.resnets.0.conv1.bias", [128], ["decoder.up.0.block.0.conv1.bias"]],
    ["decoder.up_blocks.3.resnets.0.norm2.weight", [128], ["decoder.up.0.block.0.norm2.weight"]],
    ["decoder.up_blocks.3.resnets.0.norm2.bias", [128], ["decoder.up.0.block.0.norm2.bias"]],
    ["decoder.up_blocks.3.resnets.0.conv2.weight", [128, 128, 3, 3], ["decoder.up.0.block.0.conv2.weight"]],
    ["decoder.up_blocks.3.resnets.0.conv2.bias", [128], ["decoder.up.0.block.0.conv2.bias"]],
    ["decoder.up_blocks.3.resnets.0.conv_shortcut.weight", [128, 256, 1, 1], ["decoder.up.0.block.0.nin_shortcut.weight"]],
    ["decoder.up_blocks.3.resnets.0.conv_shortcut.bias", [128], ["decoder.up.0.block.0.nin_shortcut.bias"]],
    ["decoder.up_blocks.3.resnets.1.norm1.weight", [128], ["decoder.up.0.block.1.norm1.weight"]],
    ["decoder.up_blocks.3.resnets.1.norm1.bias", [128], ["decoder.up.0.block.1.norm1.bias"]],
    ["decoder.up_blocks.3.resnets.1.conv1.weight", [128, 128, 3, 3], ["decoder.up.0.block.1.conv1.weight"]],
    ["decoder.up_blocks.3.resnets.1.conv1.bias", [128], ["decoder.up.0.block.1.conv1.bias"]],
    ["decoder.up_blocks.3.resnets.1.norm2.weight", [128], ["decoder.up.0.block.1.norm2.weight"]],
    ["decoder.up_blocks.3.resnets.1.norm2.bias", [128], ["decoder.up.0.block.1.norm2.bias"]],
    ["decoder.up_blocks.3.resnets.1.conv2.weight", [128, 128, 3, 3], ["decoder.up.0.block.1.conv2.weight"]],
    ["decoder.up_blocks.3.resnets.1.conv2.bias", [128], ["decoder.up.0.block.1.conv2.bias"]],
    ["decoder.up_blocks.3.resnets.2.norm1.weight", [128], ["decoder.up.0.block.2.norm1.weight"]],
    ["decoder.up_blocks.3.resnets.2.norm1.bias", [128], ["decoder.up.0.block.2.norm1.bias"]],
    ["decoder.up_blocks.3.resnets.2.conv1.weight", [128, 128, 3, 3], ["decoder.up.0.block.2.conv1.weight"]],
    ["decoder.up_blocks.3.resnets.2.conv1.bias", [128], ["decoder.up.0.block.2.conv1.bias"]],
    ["decoder.up_blocks.3.resnets.2.norm2.weight", [128], ["decoder.up.0.block.2.norm2.weight"]],
    ["decoder.up_blocks.3.resnets.2.norm2.bias", [128], ["decoder.up.0.block.2.norm2.bias"]],
    ["decoder.up_blocks.3.resnets.2.conv2.weight", [128, 128, 3, 3], ["decoder.up.0.block.2.conv2.weight"]],
    ["decoder.up_blocks.3.resnets.2.conv2.bias", [128], ["decoder.up.0.block.2.conv2.bias"]],
    ["decoder.conv_norm_out.weight", [128], ["decoder.norm_out.weight"]],
    ["decoder.conv_norm_out.bias", [128], ["decoder.norm_out.bias"]],
    ["decoder.conv_out.weight", [3, 128, 3, 3]],
    ["decoder.conv_out.bias", [3]],
];

describe("the SD-VAE decoder's tensors", () => {
  const weights = sdVaeDecoderWeights();

  it("are exactly the written list: names in running order, shapes, and aliases", () => {
    expect(weights.map((w) => [w.name, w.shape, w.aliases])).toEqual(TENSORS.map(([name, shape, aliases]) => [name, shape, aliases ?? []]));
  });

  it("hold 49,490,199 parameters: the decoder and post_quant_conv, as the memory estimate counts", () => {
    expect(paramCount(weights)).toBe(49_490_199);
    expect(Math.abs(paramCount(weights) - VAE_DECODER_PARAMS["sd-vae-ft-ema"]) / 49.5e6).toBeLessThan(0.001);
  });

  it("name every tensor once, aliases included", () => {
    const names = weights.flatMap((w) => [w.name, ...w.aliases]);
    expect(new Set(names).size).toBe(names.length);
  });

  it("map the LDM's up.{3,2,1,0} to up_blocks.{0,1,2,3}, with nin_shortcut where the channels change", () => {
    const aliasOf = new Map(weights.map((w) => [w.name, w.aliases]));
    expect(aliasOf.get("decoder.up_blocks.0.upsamplers.0.conv.weight")).toEqual(["decoder.up.3.upsample.conv.weight"]);
    expect(aliasOf.get("decoder.up_blocks.2.resnets.0.conv_shortcut.weight")).toEqual(["decoder.up.1.block.0.nin_shortcut.weight"]);
    expect(weights.filter((w) => w.name.includes("conv_shortcut.weight")).map((w) => w.shape)).toEqual([
      [256, 512, 1, 1],
      [128, 256, 1, 1],
    ]);
    expect(weights.some((w) => w.name.startsWith("decoder.up_blocks.3.upsamplers"))).toBe(false);
  });
});

describe("the SD-VAE decoder's layout", () => {
  it("runs 512 -> 512 -> 256 -> 128 channels, 3 resnets a block, upsampling after the first three", () => {
    const layout = sdVaeDecoderLayout();
    expect(layout.midChannels).toBe(512);
    expect(layout.upBlocks.map((b) => b.resnets.map((r) => `${r.inChannels}->${r.outChannels}`))).toEqual([
      ["512->512", "512->512", "512->512"],
      ["512->512", "512->512", "512->512"],
      ["512->256", "256->256", "256->256"],
      ["256->128", "128->128", "128->128"],
    ]);
    expect(layout.upBlocks.map((b) => b.upsample?.channels)).toEqual([512, 512, 256, undefined]);
    expect(layout.outChannels).toBe(128);
  });

  it("has SD-VAE's constants and is shared by the three SD-VAE kinds, not by the temporal VAEs", () => {
    expect(SD_VAE).toMatchObject({ blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, groups: 32, eps: 1e-6, latentChannels: 4, scale: 0.18215, factor: 8 });
    expect(DECODED_VAES).toEqual(["sd-vae-ft-ema", "sd-vae-ft-mse", "sdxl-vae"]);
    for (const kind of DECODED_VAES) expect(vaeDecoder(kind).weights()).toEqual(sdVaeDecoderWeights());
    expect([decodes("opensora-vae-v1.2"), decodes("causalvae-4x8x8"), decodes("none"), decodes("sdxl-vae")]).toEqual([false, false, false, true]);
  });
});
