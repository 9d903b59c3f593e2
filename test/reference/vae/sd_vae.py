"""The SD-VAE decoder (AutoencoderKL f8: sd-vae-ft-ema / -ft-mse / sdxl-vae), written from
../shared/reference/models.md §10.1 on plain torch ops, for the golden files of the native runtime's decode.

It reads a state dict in diffusers naming (post_quant_conv.*, decoder.*), at any channel widths: the config is
read from the tensors' shapes, except the GroupNorm group count and eps, which a checkpoint does not record
(the real model: 32 groups, eps 1e-6; the goldens use fewer groups at their tiny widths, so `groups` is a
parameter here as it is of the plan's group_norm op). Everything runs in the dtype of the weights and latent
(make_vae_goldens.py: float64, and float32 for the replay that measures how close float32 arithmetic comes).

    decode(z) = decoder(post_quant_conv(z / scale))
    decoder:  conv_in 3x3 -> mid: resnet 0, attention 0, resnet 1
              -> up_blocks 0..3 (each: layers_per_block + 1 resnets, then, on all but the last, upsamplers.0:
                 nearest x2 and a 3x3 conv)
              -> conv_norm_out (GroupNorm) -> SiLU -> conv_out 3x3 (-> 3 channels)
    resnet:   h = conv1(SiLU(norm1(x))); h = conv2(SiLU(norm2(h))); out = shortcut(x) + h, where shortcut is the
              1x1 conv_shortcut when the channel count changes and the identity otherwise
    attention (one head over the H·W pixels of each image, head dim = channels):
              h = group_norm(x); q, k, v = to_q(h), to_k(h), to_v(h) (linears over channels);
              out = x + to_out.0(softmax(q kᵀ / sqrt(C)) v)
Convolutions are stride 1 with zero padding 1 (3x3) or 0 (1x1).

`decode` returns the output [N, 3, 8h, 8w] and the output of every stage by name (post_quant_conv, conv_in,
mid_block.resnets.0, mid_block.attentions.0, mid_block.resnets.1, up_blocks.<i> (after its upsampler),
conv_norm_out (after the SiLU)), each [N, C, H, W].
"""

import torch
import torch.nn.functional as F


class StateDict:
    """Tensors by diffusers name, remembering which were read (so a caller can prove all were used)."""

    def __init__(self, tensors):
        self._tensors = dict(tensors)
        self._read = set()

    def __getitem__(self, name):
        if name not in self._tensors:
            raise KeyError(f"the state dict has no tensor {name!r}")
        self._read.add(name)
        return self._tensors[name]

    def has(self, name):
        return name in self._tensors

    def unread(self):
        return sorted(set(self._tensors) - self._read)


def conv(sd, prefix, x):
    """A stride-1 convolution, weight [Cout, Cin, k, k] (k 1 or 3), zero padding (k - 1) / 2, plus bias."""
    w = sd[f"{prefix}.weight"]
    k = w.shape[-1]
    return F.conv2d(x, w, sd[f"{prefix}.bias"], stride=1, padding=(k - 1) // 2)


def group_norm(sd, prefix, x, groups, eps):
    """GroupNorm over (channels / groups, H, W) per image and group, biased variance, affine per channel."""
    n, c, h, w = x.shape
    g = x.reshape(n, groups, c // groups, h, w)
    mean = g.mean(dim=(2, 3, 4), keepdim=True)
    var = ((g - mean) ** 2).mean(dim=(2, 3, 4), keepdim=True)
    y = ((g - mean) / torch.sqrt(var + eps)).reshape(n, c, h, w)
    return y * sd[f"{prefix}.weight"].reshape(1, c, 1, 1) + sd[f"{prefix}.bias"].reshape(1, c, 1, 1)


def silu(x):
    return x * torch.sigmoid(x)


def resnet(sd, prefix, x, groups, eps):
    h = conv(sd, f"{prefix}.conv1", silu(group_norm(sd, f"{prefix}.norm1", x, groups, eps)))
    h = conv(sd, f"{prefix}.conv2", silu(group_norm(sd, f"{prefix}.norm2", h, groups, eps)))
    shortcut = conv(sd, f"{prefix}.conv_shortcut", x) if sd.has(f"{prefix}.conv_shortcut.weight") else x
    return shortcut + h


def attention(sd, prefix, x, groups, eps):
    n, c, h, w = x.shape
    t = group_norm(sd, f"{prefix}.group_norm", x, groups, eps).reshape(n, c, h * w).transpose(1, 2)  # [N, HW, C]
    q = F.linear(t, sd[f"{prefix}.to_q.weight"], sd[f"{prefix}.to_q.bias"])
    k = F.linear(t, sd[f"{prefix}.to_k.weight"], sd[f"{prefix}.to_k.bias"])
    v = F.linear(t, sd[f"{prefix}.to_v.weight"], sd[f"{prefix}.to_v.bias"])
    scores = torch.matmul(q, k.transpose(1, 2)) / (c**0.5)
    a = torch.matmul(torch.softmax(scores, dim=-1), v)
    a = F.linear(a, sd[f"{prefix}.to_out.0.weight"], sd[f"{prefix}.to_out.0.bias"])
    return x + a.transpose(1, 2).reshape(n, c, h, w)


def up_block_count(sd):
    i = 0
    while sd.has(f"decoder.up_blocks.{i}.resnets.0.conv1.weight"):
        i += 1
    return i


def resnet_count(sd, block):
    j = 0
    while sd.has(f"decoder.up_blocks.{block}.resnets.{j}.conv1.weight"):
        j += 1
    return j


def decode(sd, z, scale, groups, eps):
    """z: latents [N, C, h, w] in the DiT's (scaled) space. Returns (pixels [N, 3, 8h, 8w], {stage: tensor})."""
    stages = {}
    x = conv(sd, "post_quant_conv", z / scale)
    stages["post_quant_conv"] = x
    x = conv(sd, "decoder.conv_in", x)
    stages["conv_in"] = x
    x = resnet(sd, "decoder.mid_block.resnets.0", x, groups, eps)
    stages["mid_block.resnets.0"] = x
    x = attention(sd, "decoder.mid_block.attentions.0", x, groups, eps)
    stages["mid_block.attentions.0"] = x
    x = resnet(sd, "decoder.mid_block.resnets.1", x, groups, eps)
    stages["mid_block.resnets.1"] = x
    for i in range(up_block_count(sd)):
        for j in range(resnet_count(sd, i)):
            x = resnet(sd, f"decoder.up_blocks.{i}.resnets.{j}", x, groups, eps)
        if sd.has(f"decoder.up_blocks.{i}.upsamplers.0.conv.weight"):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = conv(sd, f"decoder.up_blocks.{i}.upsamplers.0.conv", x)
        stages[f"up_blocks.{i}"] = x
    x = silu(group_norm(sd, "decoder.conv_norm_out", x, groups, eps))
    stages["conv_norm_out"] = x
    x = conv(sd, "decoder.conv_out", x)
    return x, stages


def decoder_tensors(latent_channels, block_out_channels, layers_per_block):
    """The decoder's tensors (diffusers names and shapes) of an AutoencoderKL with these settings, in the order
    the decoder reads them: what make_vae_goldens.py draws, and what the real model's file holds for
    block_out_channels [128, 256, 512, 512], layers_per_block 2, latent_channels 4."""
    out = []

    def add(name, shape):
        out.append((name, tuple(shape)))

    def conv_t(prefix, cout, cin, k):
        add(f"{prefix}.weight", (cout, cin, k, k))
        add(f"{prefix}.bias", (cout,))

    def norm_t(prefix, c):
        add(f"{prefix}.weight", (c,))
        add(f"{prefix}.bias", (c,))

    def resnet_t(prefix, cin, cout):
        norm_t(f"{prefix}.norm1", cin)
        conv_t(f"{prefix}.conv1", cout, cin, 3)
        norm_t(f"{prefix}.norm2", cout)
        conv_t(f"{prefix}.conv2", cout, cout, 3)
        if cin != cout:
            conv_t(f"{prefix}.conv_shortcut", cout, cin, 1)

    reversed_channels = list(reversed(block_out_channels))
    top = reversed_channels[0]
    conv_t("post_quant_conv", latent_channels, latent_channels, 1)
    conv_t("decoder.conv_in", top, latent_channels, 3)
    resnet_t("decoder.mid_block.resnets.0", top, top)
    a = "decoder.mid_block.attentions.0"
    norm_t(f"{a}.group_norm", top)
    for lin in ("to_q", "to_k", "to_v", "to_out.0"):
        add(f"{a}.{lin}.weight", (top, top))
        add(f"{a}.{lin}.bias", (top,))
    resnet_t("decoder.mid_block.resnets.1", top, top)
    prev = top
    for i, cout in enumerate(reversed_channels):
        for j in range(layers_per_block + 1):
            resnet_t(f"decoder.up_blocks.{i}.resnets.{j}", prev if j == 0 else cout, cout)
        if i < len(reversed_channels) - 1:
            conv_t(f"decoder.up_blocks.{i}.upsamplers.0.conv", cout, cout, 3)
        prev = cout
    norm_t("decoder.conv_norm_out", prev)
    conv_t("decoder.conv_out", 3, prev, 3)
    return out
