"""Latte-1 / LatteT2V (diffusers format, models.md §3.2) and Open-Sora-Plan v1.0/v1.1, which shares its
architecture and tensor names (§6) and differs only in the temporal position table.

Quirks kept: diffusers attention with separate to_q/to_k/to_v and to_out.0, head-major; adaLN-single through
adaln_single (emb_t = timestep_embedder(sinusoid(t)), timestep = linear(SiLU(emb_t))); spatial blocks hold self-,
cross- (no norm, no gate) and feed-forward; temporal blocks self-attention and feed-forward only; the temporal
sin-cos table is ADDED TO THE RESIDUAL STREAM before temporal block 0 (Latte-1 only when F > 1); the final layer
adds the un-projected emb_t to the [2, D] table, shift first; positions follow diffusers PatchEmbed,
idx / (n / base_size) / interpolation_scale.
"""

import torch
import torch.nn.functional as F

from .common import (
    adaln_single_rows,
    from_temporal,
    gelu_tanh,
    layer_norm,
    linear,
    modulate,
    patch_embed_2d,
    sincos_1d,
    sincos_2d,
    softmax_attention,
    timestep_sinusoid,
    to_temporal,
    unpatchify,
)


def diffusers_attention(w, prefix, x, heads, context=None, mask=None):
    """diffusers Attention: q from x, k and v from context (x when None); with a mask [N, L], sequence n sees only
    the context tokens whose mask is non-zero (the reference's additive -10000 bias, or truncation)."""
    n, l, d = x.shape
    hd = d // heads
    ctx = x if context is None else context
    q = linear(w, f"{prefix}.to_q", x).reshape(n, l, heads, hd).transpose(1, 2)
    k = linear(w, f"{prefix}.to_k", ctx).reshape(n, -1, heads, hd).transpose(1, 2)
    v = linear(w, f"{prefix}.to_v", ctx).reshape(n, -1, heads, hd).transpose(1, 2)
    if mask is None:
        o = softmax_attention(q, k, v)
    else:
        o = torch.stack([softmax_attention(q[i], k[i][:, mask[i] != 0], v[i][:, mask[i] != 0]) for i in range(n)])
    return linear(w, f"{prefix}.to_out.0", o.transpose(1, 2).reshape(n, l, d))


def feed_forward(w, prefix, x):
    """diffusers FeedForward, gelu-approximate: net.0.proj, GELU-tanh, net.2."""
    return linear(w, f"{prefix}.net.2", gelu_tanh(linear(w, f"{prefix}.net.0.proj", x)))


def spatial_block(w, prefix, x, t6, text, mask, heads):
    s1, c1, g1, s2, c2, g2 = adaln_single_rows(w[f"{prefix}.scale_shift_table"], t6)
    x = x + g1 * diffusers_attention(w, f"{prefix}.attn1", modulate(layer_norm(x), s1, c1), heads)
    x = x + diffusers_attention(w, f"{prefix}.attn2", x, heads, context=text, mask=mask)
    x = x + g2 * feed_forward(w, f"{prefix}.ff", modulate(layer_norm(x), s2, c2))
    return x


def temporal_block(w, prefix, x, t6, heads):
    s1, c1, g1, s2, c2, g2 = adaln_single_rows(w[f"{prefix}.scale_shift_table"], t6)
    x = x + g1 * diffusers_attention(w, f"{prefix}.attn1", modulate(layer_norm(x), s1, c1), heads)
    x = x + g2 * feed_forward(w, f"{prefix}.ff", modulate(layer_norm(x), s2, c2))
    return x


def position_scales(rows, cols, base_size, interpolation_scale):
    """diffusers PatchEmbed coordinates idx / (n / base_size) / interpolation_scale, as multipliers of idx."""
    return base_size / rows / interpolation_scale, base_size / cols / interpolation_scale


def forward(w, hyper, batch, settings):
    """batch: latent [B, C, F, H, W], timestep [B], text [B, L, C_text], mask [B, L].
    (C_text: the caption channels, 4096 for T5-XXL features, 32 for the registry's tiny variants).
    settings: base_size, interpolation_scale (spatial positions); temporal_scale (temporal positions are
    frame · temporal_scale); temporal_single_frame (whether one frame still gets the table: Open-Sora-Plan)."""
    d, p, heads = hyper["hidden"], hyper["patch"], hyper["heads"]
    latent = batch["latent"]
    b, ch, frames, h, wd = latent.shape
    x = latent.permute(0, 2, 1, 3, 4).reshape(b * frames, ch, h, wd)
    tok, (rows, cols) = patch_embed_2d(w, "pos_embed", x, p)
    tokens = rows * cols
    rs, cs = position_scales(rows, cols, settings["base_size"], settings["interpolation_scale"])
    tok = tok + sincos_2d(d, rows, cols, rs, cs, tok.dtype)
    emb_t = linear(w, "adaln_single.emb.timestep_embedder.linear_1", timestep_sinusoid(batch["timestep"]))
    emb_t = linear(w, "adaln_single.emb.timestep_embedder.linear_2", F.silu(emb_t))
    t6 = linear(w, "adaln_single.linear", F.silu(emb_t))
    text = linear(w, "caption_projection.linear_1", batch["text"])
    text = linear(w, "caption_projection.linear_2", gelu_tanh(text))
    t6_spatial = t6.repeat_interleave(frames, dim=0)
    t6_temporal = t6.repeat_interleave(tokens, dim=0)
    text_spatial = text.repeat_interleave(frames, dim=0)
    mask_spatial = batch["mask"].repeat_interleave(frames, dim=0)
    temp_pos = sincos_1d(d, torch.arange(frames, dtype=tok.dtype) * settings["temporal_scale"])
    add_temporal = frames > 1 or settings["temporal_single_frame"]
    blocks = []
    for i in range(hyper["depth"]):
        tok = spatial_block(w, f"transformer_blocks.{i}", tok, t6_spatial, text_spatial, mask_spatial, heads)
        blocks.append(("spatial", i, tok.reshape(b, frames * tokens, d)))
        xt = to_temporal(tok.reshape(b, frames * tokens, d), frames, tokens)
        if i == 0 and add_temporal:
            xt = xt + temp_pos
        xt = temporal_block(w, f"temporal_transformer_blocks.{i}", xt, t6_temporal, heads)
        seq = from_temporal(xt, b, frames, tokens)
        blocks.append(("temporal", i, seq))
        tok = seq.reshape(b * frames, tokens, d)
    shift, scale = (w["scale_shift_table"][None] + emb_t.repeat_interleave(frames, dim=0)[:, None]).chunk(2, dim=1)
    out = linear(w, "proj_out", modulate(layer_norm(tok), shift, scale))
    out = unpatchify(out, (1, rows, cols), (1, p, p), hyper["outChannels"])[:, :, 0]
    out = out.reshape(b, frames, hyper["outChannels"], h, wd).permute(0, 2, 1, 3, 4)
    return out, blocks
