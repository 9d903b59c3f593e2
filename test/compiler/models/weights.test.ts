/** Exact checkpoint names and shapes per family, the quirky ones first (models.md state-dict tables). */
import { describe, expect, it } from "vitest";
import { familyInfo } from "../../../compiler/models/registry.js";
import type { Family } from "../../../compiler/spec/schema.js";

function tensors(family: Family, variant: string): Map<string, readonly number[]> {
  const f = familyInfo(family)!;
  return new Map(f.weights(f.resolve(f.variants[variant]!)).map((w) => [w.name, w.shape]));
}

describe("checkpoint tensors", () => {
  it("DiT-XL/2 (§1.3): a 1001-row label table with the null class, 2-D patch kernel", () => {
    const t = tensors("dit", "DiT-XL/2");
    expect(t.get("y_embedder.embedding_table.weight")).toEqual([1001, 1152]);
    expect(t.get("x_embedder.proj.weight")).toEqual([1152, 4, 2, 2]);
    expect(t.get("blocks.27.adaLN_modulation.1.weight")).toEqual([6912, 1152]);
    expect(t.get("final_layer.linear.weight")).toEqual([32, 1152]);
    expect(t.has("pos_embed")).toBe(false);
  });

  it("PixArt-XL/2 (§2.4): adaLN-single, [2, D] final table, stored null caption", () => {
    const t = tensors("pixart", "PixArt-XL/2");
    expect(t.get("final_layer.scale_shift_table")).toEqual([2, 1152]);
    expect(t.get("final_layer.linear.weight")).toEqual([32, 1152]);
    expect(t.get("blocks.0.scale_shift_table")).toEqual([6, 1152]);
    expect(t.get("t_block.1.weight")).toEqual([6912, 1152]);
    expect(t.get("y_embedder.y_embedding")).toEqual([120, 4096]);
    expect(t.get("y_embedder.y_proj.fc1.weight")).toEqual([1152, 4096]);
    expect(t.get("blocks.27.cross_attn.kv_linear.weight")).toEqual([2304, 1152]);
    expect(t.get("blocks.27.cross_attn.q_linear.bias")).toEqual([1152]);
    expect(t.has("blocks.28.scale_shift_table")).toBe(false);
    expect(t.has("csize_embedder.mlp.0.weight")).toBe(false);
    expect(t.has("pos_embed")).toBe(false);
  });

  it("PixArt-XL/2-1024-MS (§2.4): D/3-wide size embedders", () => {
    const t = tensors("pixart", "PixArt-XL/2-1024-MS");
    expect(t.get("csize_embedder.mlp.0.weight")).toEqual([384, 256]);
    expect(t.get("csize_embedder.mlp.2.weight")).toEqual([384, 384]);
    expect(t.get("ar_embedder.mlp.0.bias")).toEqual([384]);
    expect(t.get("ar_embedder.mlp.2.weight")).toEqual([384, 384]);
  });

  it("Latte-XL/2 (§3.1): DiT names over 28 alternating blocks, a 102-row UCF101 table", () => {
    const t = tensors("latte", "Latte-XL/2");
    expect(t.get("y_embedder.embedding_table.weight")).toEqual([102, 1152]);
    expect(t.get("blocks.27.attn.qkv.weight")).toEqual([3456, 1152]);
    expect(t.get("blocks.0.adaLN_modulation.1.bias")).toEqual([6912]);
    expect(t.has("blocks.28.attn.qkv.weight")).toBe(false);
    expect(t.get("final_layer.adaLN_modulation.1.weight")).toEqual([2304, 1152]);
    expect(tensors("latte", "Latte-XL/2-uncond").has("y_embedder.embedding_table.weight")).toBe(false);
    // Stored fixed sin-cos tables are recomputed, so they are named for the loader to skip, not read.
    expect(t.has("temp_embed")).toBe(false);
    expect(familyInfo("latte")!.skippedTensors).toEqual(["pos_embed", "temp_embed"]);
  });

  it("Latte-1 (§3.2): diffusers names, separate q/k/v, temporal blocks without cross-attention", () => {
    const t = tensors("latte-t2v", "Latte-1");
    expect(t.get("pos_embed.proj.weight")).toEqual([1152, 4, 2, 2]);
    expect(t.get("adaln_single.emb.timestep_embedder.linear_1.weight")).toEqual([1152, 256]);
    expect(t.get("adaln_single.linear.weight")).toEqual([6912, 1152]);
    expect(t.get("caption_projection.linear_1.weight")).toEqual([1152, 4096]);
    expect(t.get("transformer_blocks.27.attn2.to_k.weight")).toEqual([1152, 1152]);
    expect(t.get("transformer_blocks.0.attn1.to_out.0.bias")).toEqual([1152]);
    expect(t.get("transformer_blocks.0.ff.net.0.proj.weight")).toEqual([4608, 1152]);
    expect(t.get("temporal_transformer_blocks.27.ff.net.2.weight")).toEqual([1152, 4608]);
    expect(t.get("temporal_transformer_blocks.3.scale_shift_table")).toEqual([6, 1152]);
    expect(t.has("temporal_transformer_blocks.0.attn2.to_q.weight")).toBe(false);
    expect(t.get("scale_shift_table")).toEqual([2, 1152]);
    expect(t.get("proj_out.weight")).toEqual([32, 1152]);
    expect(t.has("caption_projection.y_embedding")).toBe(false);
  });

  it("Open-Sora-Plan LatteT2V-XL/122 (§6): exactly the Latte-1 names and shapes", () => {
    expect([...tensors("opensora-plan", "LatteT2V-XL/122")]).toEqual([...tensors("latte-t2v", "Latte-1")]);
  });

  it("STDiT-XL/2 (§4.4): a 5-D Conv3d patch kernel and a temporal attention in every block", () => {
    const t = tensors("stdit", "STDiT-XL/2");
    expect(t.get("x_embedder.proj.weight")).toEqual([1152, 4, 1, 2, 2]);
    expect(t.get("blocks.0.attn_temp.qkv.weight")).toEqual([3456, 1152]);
    expect(t.get("blocks.27.attn_temp.proj.bias")).toEqual([1152]);
    expect(t.get("blocks.13.cross_attn.kv_linear.bias")).toEqual([2304]);
    expect(t.get("y_embedder.y_embedding")).toEqual([120, 4096]);
    expect(t.get("final_layer.scale_shift_table")).toEqual([2, 1152]);
    expect(t.has("pos_embed_temporal")).toBe(false);
  });

  it("STDiT3-XL/2 (§5.5): split block lists, qk-norm, fps embedder, a 300-token null caption", () => {
    const t = tensors("stdit3", "STDiT3-XL/2");
    expect(t.get("y_embedder.y_embedding")).toEqual([300, 4096]);
    expect(t.get("x_embedder.proj.weight")).toEqual([1152, 4, 1, 2, 2]);
    expect(t.get("fps_embedder.mlp.0.weight")).toEqual([1152, 256]);
    expect(t.get("fps_embedder.mlp.2.weight")).toEqual([1152, 1152]);
    expect(t.get("spatial_blocks.0.attn.q_norm.weight")).toEqual([72]);
    expect(t.get("temporal_blocks.27.attn.k_norm.weight")).toEqual([72]);
    expect(t.get("temporal_blocks.27.cross_attn.kv_linear.weight")).toEqual([2304, 1152]);
    expect(t.get("spatial_blocks.5.scale_shift_table")).toEqual([6, 1152]);
    expect(t.has("blocks.0.attn.qkv.weight")).toBe(false);
    expect(t.has("spatial_blocks.28.attn.qkv.weight")).toBe(false);
    expect(t.has("rope.freqs")).toBe(false);
  });

  it("sizes every tensor from the hyperparameters (the tiny variants)", () => {
    const t = tensors("stdit3", "stdit3-tiny");
    expect(t.get("spatial_blocks.1.attn.q_norm.weight")).toEqual([16]);
    expect(t.get("x_embedder.proj.weight")).toEqual([64, 4, 1, 2, 2]);
    // The tiny text: 8 tokens of 32 channels (not T5's 4096 x 300), in the projection and the null caption.
    expect(t.get("y_embedder.y_proj.fc1.weight")).toEqual([64, 32]);
    expect(t.get("y_embedder.y_embedding")).toEqual([8, 32]);
    expect(t.get("spatial_blocks.1.mlp.fc1.weight")).toEqual([256, 64]);
    expect(tensors("latte", "latte-tiny").get("blocks.3.adaLN_modulation.1.weight")).toEqual([384, 64]);
    expect(tensors("latte-t2v", "latte-t2v-tiny").get("temporal_transformer_blocks.1.attn1.to_v.weight")).toEqual([64, 64]);
    expect(tensors("latte-t2v", "latte-t2v-tiny").get("caption_projection.linear_1.weight")).toEqual([64, 32]);
    expect(tensors("pixart", "pixart-tiny").get("y_embedder.y_embedding")).toEqual([8, 32]);
    expect(tensors("opensora-plan", "opensora-plan-tiny").get("caption_projection.linear_1.weight")).toEqual([64, 32]);
  });
});
