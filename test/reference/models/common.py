"""Building blocks shared by the DiT-family reference forwards (models.md §0), on plain torch ops.

Every function works in the dtype of its inputs; make_goldens.py runs them in float64 on the CPU. Names of
checkpoint tensors are the official ones; `Weights` records which were read so a caller can prove that a forward
consumed exactly the registry's table.
"""

import math

import torch
import torch.nn.functional as F

LN_EPS = 1e-6


class Weights:
    """A state dict read by official tensor names, remembering every name read."""

    def __init__(self, tensors):
        self._tensors = dict(tensors)
        self._read = set()

    def __getitem__(self, name):
        if name not in self._tensors:
            raise KeyError(f"the checkpoint has no tensor {name!r}")
        self._read.add(name)
        return self._tensors[name]

    def unread(self):
        return sorted(set(self._tensors) - self._read)


# ---------------------------------------------------------------------------------------------------------
# Elementwise pieces
# ---------------------------------------------------------------------------------------------------------

def linear(w, prefix, x):
    """Linear(in -> out): weight [out, in], bias [out]; y = x W^T + b (models.md §0.1)."""
    return F.linear(x, w[f"{prefix}.weight"], w[f"{prefix}.bias"])


def layer_norm(x, eps=LN_EPS):
    """LayerNorm over the last axis, no affine parameters."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def modulate(x, shift, scale):
    """adaLN modulation x·(1 + scale) + shift; shift and scale broadcast over the token axis."""
    return x * (1 + scale) + shift


def rms_norm(x, weight, eps=LN_EPS):
    """LlamaRMSNorm over the last axis: weight ⊙ x·rsqrt(mean(x²) + eps)."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))


def mlp(w, prefix, x):
    """timm Mlp: fc1, GELU-tanh, fc2 (models.md §0.10)."""
    return linear(w, f"{prefix}.fc2", gelu_tanh(linear(w, f"{prefix}.fc1", x)))


# ---------------------------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------------------------

def timestep_sinusoid(t, dim=256, max_period=10000.0):
    """The t_embedder sinusoid (models.md §0.2): [cos | sin], frequencies exp(-ln(max_period)·i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype) / half)
    args = t[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def timestep_mlp(w, prefix, t):
    """t_embedder / SizeEmbedder MLP on the sinusoid: mlp.0 (256 -> d), SiLU, mlp.2 (d -> d)."""
    h = linear(w, f"{prefix}.mlp.0", timestep_sinusoid(t))
    return linear(w, f"{prefix}.mlp.2", F.silu(h))


def sincos_1d(dim, pos):
    """MAE 1-D table (models.md §0.3): [sin | cos] of pos·ω, ω_i = 10000^(-i/(dim/2)). pos [M] -> [M, dim]."""
    half = dim // 2
    omega = 1.0 / 10000.0 ** (torch.arange(half, dtype=pos.dtype) / half)
    o = pos[:, None] * omega[None, :]
    return torch.cat([torch.sin(o), torch.cos(o)], dim=-1)


def sincos_2d(dim, rows, cols, row_scale, col_scale, dtype):
    """2-D table for a rows x cols grid, token n = r·cols + c (row-major), coordinates index·scale.

    The FIRST half of the channels encodes the column (width) coordinate, the second half the row (models.md
    §0.3: the reference names the first half `emb_h`, but its meshgrid puts the width coordinate there).
    """
    r = torch.arange(rows, dtype=dtype).repeat_interleave(cols) * row_scale
    c = torch.arange(cols, dtype=dtype).repeat(rows) * col_scale
    return torch.cat([sincos_1d(dim // 2, c), sincos_1d(dim // 2, r)], dim=-1)


# ---------------------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------------------

def softmax_attention(q, k, v):
    """softmax(q·kᵀ/√hd)·v over the last two axes (no mask: callers pass only the keys a query may see)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def rope_interleaved(x):
    """lucidrains RotaryEmbedding(dim=hd), freqs_for='lang', theta 10000, over axis -2 at positions 0..N-1.

    freqs[j] = 10000^(-2j/hd); channels 2j and 2j+1 share the angle p·freqs[j] and rotate as a pair:
    (a, b) -> (a·cos − b·sin, b·cos + a·sin) (models.md §5.3).
    """
    n, hd = x.shape[-2], x.shape[-1]
    freqs = 10000.0 ** (-torch.arange(0, hd, 2, dtype=x.dtype) / hd)
    angles = torch.arange(n, dtype=x.dtype)[:, None] * freqs[None, :]
    angles = angles.repeat_interleave(2, dim=-1)
    pairs = x.reshape(*x.shape[:-1], hd // 2, 2)
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).reshape(x.shape)
    return x * torch.cos(angles) + rotated * torch.sin(angles)


def self_attention(w, prefix, x, heads, qk_norm=False, rope=False):
    """timm Attention (models.md §0.6): packed qkv rows s·D + h·hd + d; optional per-head RMSNorm of q and k
    (weights `q_norm`, `k_norm`), then optional RoPE along the sequence; heads concatenated; proj."""
    b, n, d = x.shape
    hd = d // heads
    qkv = linear(w, f"{prefix}.qkv", x).reshape(b, n, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    if qk_norm:
        q = rms_norm(q, w[f"{prefix}.q_norm.weight"])
        k = rms_norm(k, w[f"{prefix}.k_norm.weight"])
    if rope:
        q = rope_interleaved(q)
        k = rope_interleaved(k)
    o = softmax_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
    return linear(w, f"{prefix}.proj", o)


def cross_attention(w, prefix, x, y, mask, heads):
    """PixArt MultiHeadCrossAttention (models.md §0.7). x [B, N, D] queries; y [B, L, D] projected caption;
    mask [B, L]: sample b attends only to its own tokens with mask != 0 (the reference packs exactly those)."""
    b, n, d = x.shape
    hd = d // heads
    q = linear(w, f"{prefix}.q_linear", x).reshape(b, n, heads, hd).transpose(1, 2)
    outs = []
    for i in range(b):
        tokens = y[i][mask[i] != 0]
        kv = linear(w, f"{prefix}.kv_linear", tokens).reshape(-1, 2, heads, hd)
        k = kv[:, 0].transpose(0, 1)
        v = kv[:, 1].transpose(0, 1)
        outs.append(softmax_attention(q[i], k, v).transpose(0, 1).reshape(n, d))
    return linear(w, f"{prefix}.proj", torch.stack(outs))


# ---------------------------------------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------------------------------------

def patch_embed_2d(w, prefix, x, patch):
    """Conv2d(C -> D, k = stride = p) on [N, C, H, W] -> tokens [N, (H/p)·(W/p), D] row-major, and the grid."""
    y = F.conv2d(x, w[f"{prefix}.proj.weight"], w[f"{prefix}.proj.bias"], stride=patch)
    return y.flatten(2).transpose(1, 2), (y.shape[2], y.shape[3])


def patch_embed_3d(w, prefix, x, patch):
    """Open-Sora PatchEmbed3D (models.md §0.4): zero-pad T, H, W at the end up to multiples of the patch, then
    Conv3d with k = stride = (pt, ph, pw). Returns tokens [B, Tg·Hg·Wg, D] in (t, h, w) order and the grid."""
    pt, ph, pw = patch
    _, _, t, h, wd = x.shape
    x = F.pad(x, (0, (-wd) % pw, 0, (-h) % ph, 0, (-t) % pt))
    y = F.conv3d(x, w[f"{prefix}.proj.weight"], w[f"{prefix}.proj.bias"], stride=patch)
    return y.flatten(2).transpose(1, 2), (y.shape[2], y.shape[3], y.shape[4])


def unpatchify(y, grid, patch, channels):
    """Tokens [B, Tg·Hg·Wg, pt·ph·pw·C] -> latent [B, C, Tg·pt, Hg·ph, Wg·pw]; features ordered (kt, kh, kw, c),
    channel fastest (models.md §0.5):
        out[b, c, t·pt+kt, h·ph+kh, w·pw+kw] = y[b, n(t,h,w), ((kt·ph + kh)·pw + kw)·C + c]."""
    tg, hg, wg = grid
    pt, ph, pw = patch
    b = y.shape[0]
    y = y.reshape(b, tg, hg, wg, pt, ph, pw, channels)
    y = y.permute(0, 7, 1, 4, 2, 5, 3, 6)
    return y.reshape(b, channels, tg * pt, hg * ph, wg * pw)


# ---------------------------------------------------------------------------------------------------------
# Layout helpers
# ---------------------------------------------------------------------------------------------------------

def to_temporal(x, frames, tokens):
    """'B (T S) D -> (B S) T D'."""
    b, _, d = x.shape
    return x.reshape(b, frames, tokens, d).transpose(1, 2).reshape(b * tokens, frames, d)


def from_temporal(x, batch, frames, tokens):
    """'(B S) T D -> B (T S) D'."""
    d = x.shape[-1]
    return x.reshape(batch, tokens, frames, d).transpose(1, 2).reshape(batch, frames * tokens, d)


def to_spatial(x, frames, tokens):
    """'B (T S) D -> (B T) S D'."""
    b, _, d = x.shape
    return x.reshape(b * frames, tokens, d)


def from_spatial(x, batch, frames, tokens):
    """'(B T) S D -> B (T S) D'."""
    return x.reshape(batch, frames * tokens, x.shape[-1])


def adaln_single_rows(table, t0, chunks=6):
    """adaLN-single: (scale_shift_table[None] + t0.reshape(B, chunks, D)).chunk(chunks, dim=1), each [B, 1, D],
    in the order shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp (models.md §0.8)."""
    b = t0.shape[0]
    rows = table[None] + t0.reshape(b, chunks, -1)
    return rows.chunk(chunks, dim=1)


def t2i_final_layer(w, prefix, x, t):
    """PixArt T2IFinalLayer (models.md §0.8): shift, scale = (table [2, D][None] + t[:, None]).chunk(2, dim=1), the
    raw timestep embedding t (not t0), shift first; then LN, modulate, linear."""
    shift, scale = (w[f"{prefix}.scale_shift_table"][None] + t[:, None]).chunk(2, dim=1)
    return linear(w, f"{prefix}.linear", modulate(layer_norm(x), shift, scale))


def caption_projection(w, prefix, y):
    """y_embedder.y_proj (timm Mlp: fc1, GELU-tanh, fc2) on T5 features [B, L, C] -> [B, L, D] (models.md §0.9)."""
    return mlp(w, f"{prefix}.y_proj", y)
