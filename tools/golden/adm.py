"""The ADM U-Net of Dhariwal & Nichol (2021), rebuilt for tweedie's golden files.

This is an independent re-implementation of guided-diffusion's `UNetModel` (openai/guided-diffusion,
`guided_diffusion/unet.py` and `guided_diffusion/nn.py`). It follows the same module tree, so that
`state_dict()` has exactly the same key names and shapes and a checkpoint of the original loads into it
(and a file written from this model is a file written from the original). Only inference-relevant
features are kept: no fp16 conversion, no gradient checkpointing, dims 1 and 2 only.

One deliberate difference: guided-diffusion upcasts GroupNorm inputs and attention logits to float32
whatever the dtype. That only matters for half precision; here the upcast goes to "at least float32",
so a float64 copy of the model really computes in float64 (needed for finite-difference checks), while
a float32 model computes exactly what the original does.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def _at_least_f32(dtype):
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class GroupNorm32(nn.GroupNorm):
    """GroupNorm evaluated in (at least) float32 and cast back to the input dtype."""

    def forward(self, x):
        return super().forward(x.to(_at_least_f32(x.dtype))).to(x.dtype)


def normalization(channels):
    # 32 groups, eps 1e-5 (nn.GroupNorm's default), affine.
    return GroupNorm32(32, channels)


def conv_nd(dims, *args, **kwargs):
    if dims == 1:
        return nn.Conv1d(*args, **kwargs)
    if dims == 2:
        return nn.Conv2d(*args, **kwargs)
    raise ValueError(f"dims must be 1 or 2, got {dims}")


def avg_pool_nd(dims, *args, **kwargs):
    if dims == 1:
        return nn.AvgPool1d(*args, **kwargs)
    if dims == 2:
        return nn.AvgPool2d(*args, **kwargs)
    raise ValueError(f"dims must be 1 or 2, got {dims}")


def timestep_embedding(t, dim, max_period=10000):
    """Sinusoidal embedding of (possibly fractional) timesteps t of shape (N,), result (N, dim).

    Column j < dim//2 is cos(t * w_j), column dim//2 + j is sin(t * w_j), with
    w_j = exp(-ln(max_period) * j / (dim//2)); an odd dim gets one trailing zero column.
    Computed in float32 (frequencies, products, cos and sin), as guided-diffusion does.
    """
    half = dim // 2
    exponent = torch.arange(half, dtype=torch.float32) / half
    freqs = torch.exp(-math.log(max_period) * exponent)
    args = t[:, None].float() * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2 == 1:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class EmbeddingConsumer(nn.Module):
    """Marker for layers whose forward takes (x, emb)."""


class StepSequential(nn.Sequential):
    """nn.Sequential that hands the timestep embedding to the layers that want it.

    Being an nn.Sequential, its children are named 0, 1, 2, ... like guided-diffusion's
    TimestepEmbedSequential, which gives keys such as `input_blocks.1.0.in_layers.2.weight`.
    """

    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, EmbeddingConsumer) else layer(x)
        return x


class Upsample(nn.Module):
    """Nearest-neighbour x2 along every spatial axis (the length for dims=1, H and W for dims=2),
    then an optional 3-wide convolution stored as `conv`."""

    def __init__(self, channels, use_conv, dims=2, out_channels=None):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        if use_conv:
            self.conv = conv_nd(dims, channels, self.out_channels, 3, padding=1)

    def forward(self, x):
        assert x.shape[1] == self.channels
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """Halves every spatial axis: a stride-2 3-wide convolution (padding 1) when use_conv, otherwise a
    2-wide average pool. Either way the layer is called `op`; the pool has no parameters."""

    def __init__(self, channels, use_conv, dims=2, out_channels=None):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        if use_conv:
            self.op = conv_nd(dims, channels, self.out_channels, 3, stride=2, padding=1)
        else:
            assert self.out_channels == channels, "pooling cannot change the channel count"
            self.op = avg_pool_nd(dims, kernel_size=2, stride=2)

    def forward(self, x):
        assert x.shape[1] == self.channels
        return self.op(x)


class ResBlock(EmbeddingConsumer):
    """Residual block conditioned on the embedding, optionally resampling (up or down).

    Main path: GN -> SiLU -> [resample] -> conv3 -> add embedding (or FiLM around the second GN) ->
    GN -> SiLU -> dropout -> conv3. Skip path: [the same resample] -> identity, or a 1x1 conv when the
    channel count changes (a 3-wide conv if use_conv).
    """

    def __init__(self, channels, emb_channels, dropout, out_channels=None, use_conv=False,
                 use_scale_shift_norm=False, dims=2, up=False, down=False):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm

        self.in_layers = nn.Sequential(
            normalization(channels),
            nn.SiLU(),
            conv_nd(dims, channels, self.out_channels, 3, padding=1),
        )

        # Resampling inside the block never uses a convolution; it acts on `channels`-wide tensors
        # (after the first norm/SiLU on the main path, and on the raw input on the skip path).
        self.updown = up or down
        if up:
            self.h_upd = Upsample(channels, False, dims)
            self.x_upd = Upsample(channels, False, dims)
        elif down:
            self.h_upd = Downsample(channels, False, dims)
            self.x_upd = Downsample(channels, False, dims)
        else:
            self.h_upd = nn.Identity()
            self.x_upd = nn.Identity()

        emb_out = 2 * self.out_channels if use_scale_shift_norm else self.out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))

        self.out_layers = nn.Sequential(
            normalization(self.out_channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            conv_nd(dims, self.out_channels, self.out_channels, 3, padding=1),
        )

        if self.out_channels == channels:
            self.skip_connection = nn.Identity()
        elif use_conv:
            self.skip_connection = conv_nd(dims, channels, self.out_channels, 3, padding=1)
        else:
            self.skip_connection = conv_nd(dims, channels, self.out_channels, 1)

    def forward(self, x, emb):
        if self.updown:
            h = self.in_layers[:-1](x)   # GN, SiLU
            h = self.h_upd(h)
            x = self.x_upd(x)
            h = self.in_layers[-1](h)    # conv
        else:
            h = self.in_layers(x)

        e = self.emb_layers(emb).to(h.dtype)
        e = e.reshape(*e.shape, *([1] * (h.dim() - e.dim())))  # broadcast over spatial axes

        if self.use_scale_shift_norm:
            scale, shift = torch.chunk(e, 2, dim=1)  # first half scales, second half shifts
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class QKVAttentionLegacy(nn.Module):
    """Multi-head attention on a packed (B, 3*H*c, T) tensor laid out head-major: each head's block of
    3c rows holds its q, k, v in turn."""

    def __init__(self, n_heads):
        super().__init__()
        self.n_heads = n_heads

    def forward(self, qkv):
        b, width, length = qkv.shape
        assert width % (3 * self.n_heads) == 0
        c = width // (3 * self.n_heads)
        q, k, v = qkv.reshape(b * self.n_heads, 3 * c, length).split(c, dim=1)
        s = 1.0 / math.sqrt(math.sqrt(c))  # 1/sqrt(c) split evenly between q and k
        logits = torch.einsum("bct,bcs->bts", q * s, k * s)
        w = torch.softmax(logits.to(_at_least_f32(logits.dtype)), dim=-1).to(logits.dtype)
        out = torch.einsum("bts,bcs->bct", w, v)
        return out.reshape(b, -1, length)


class QKVAttention(nn.Module):
    """Multi-head attention on a packed (B, 3*H*c, T) tensor laid out q-major: all heads' q rows, then
    all k rows, then all v rows ("new attention order")."""

    def __init__(self, n_heads):
        super().__init__()
        self.n_heads = n_heads

    def forward(self, qkv):
        b, width, length = qkv.shape
        assert width % (3 * self.n_heads) == 0
        c = width // (3 * self.n_heads)
        q, k, v = qkv.chunk(3, dim=1)
        s = 1.0 / math.sqrt(math.sqrt(c))
        bh = b * self.n_heads
        logits = torch.einsum("bct,bcs->bts", (q * s).reshape(bh, c, length), (k * s).reshape(bh, c, length))
        w = torch.softmax(logits.to(_at_least_f32(logits.dtype)), dim=-1).to(logits.dtype)
        out = torch.einsum("bts,bcs->bct", w, v.reshape(bh, c, length))
        return out.reshape(b, -1, length)


class AttentionBlock(nn.Module):
    """Self-attention over all spatial positions with a residual connection:
    x + proj_out(attention(qkv(norm(x)))), positions flattened to one axis."""

    def __init__(self, channels, num_heads=1, num_head_channels=-1, use_new_attention_order=False):
        super().__init__()
        self.channels = channels
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            assert channels % num_head_channels == 0, (channels, num_head_channels)
            self.num_heads = channels // num_head_channels
        self.norm = normalization(channels)
        self.qkv = conv_nd(1, channels, 3 * channels, 1)
        self.attention = (QKVAttention if use_new_attention_order else QKVAttentionLegacy)(self.num_heads)
        self.proj_out = conv_nd(1, channels, channels, 1)

    def forward(self, x):
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        h = self.attention(self.qkv(self.norm(flat)))
        return (flat + self.proj_out(h)).reshape(b, c, *spatial)


class UNetModel(nn.Module):
    """guided-diffusion's UNetModel (same constructor arguments, same parameter names).

    attention_resolutions holds downsample rates: attention follows the res blocks at levels whose
    cumulative downsampling factor `ds` is in the collection. channel_mult entries may be fractional;
    a level's width is int(mult * model_channels).
    """

    def __init__(self, image_size, in_channels, model_channels, out_channels, num_res_blocks,
                 attention_resolutions, dropout=0, channel_mult=(1, 2, 4, 8), conv_resample=True, dims=2,
                 num_classes=None, num_heads=1, num_head_channels=-1, num_heads_upsample=-1,
                 use_scale_shift_norm=False, resblock_updown=False, use_new_attention_order=False):
        super().__init__()
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.image_size = image_size
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.out_channels = out_channels
        self.num_classes = num_classes
        self.dims = dims

        emb_dim = 4 * model_channels
        self.time_embed = nn.Sequential(
            nn.Linear(model_channels, emb_dim),
            nn.SiLU(),
            nn.Linear(emb_dim, emb_dim),
        )
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb_dim)

        def res_block(cin, cout, up=False, down=False):
            return ResBlock(cin, emb_dim, dropout, out_channels=cout, dims=dims,
                            use_scale_shift_norm=use_scale_shift_norm, up=up, down=down)

        def attention(ch, heads):
            return AttentionBlock(ch, num_heads=heads, num_head_channels=num_head_channels,
                                  use_new_attention_order=use_new_attention_order)

        # Encoder. `skip_widths` records the width of every encoder output, consumed in reverse by the
        # decoder's concatenations.
        ch = first_width = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([StepSequential(conv_nd(dims, in_channels, ch, 3, padding=1))])
        skip_widths = [ch]
        ds = 1
        last_level = len(channel_mult) - 1
        for level, mult in enumerate(channel_mult):
            width = int(mult * model_channels)
            for _ in range(num_res_blocks):
                layers = [res_block(ch, width)]
                ch = width
                if ds in attention_resolutions:
                    layers.append(attention(ch, num_heads))
                self.input_blocks.append(StepSequential(*layers))
                skip_widths.append(ch)
            if level != last_level:
                if resblock_updown:
                    down = res_block(ch, ch, down=True)
                else:
                    down = Downsample(ch, conv_resample, dims=dims, out_channels=ch)
                self.input_blocks.append(StepSequential(down))
                skip_widths.append(ch)
                ds *= 2

        # Bottleneck: always res, attention (with the encoder's head count), res.
        self.middle_block = StepSequential(
            res_block(ch, ch),
            attention(ch, num_heads),
            res_block(ch, ch),
        )

        # Decoder: num_res_blocks + 1 blocks per level, each eating one skip; the last block of every
        # level but the first upsamples. Its attention uses num_heads_upsample (unless
        # num_head_channels fixes the head width, which overrides both head counts).
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            width = int(model_channels * mult)
            for i in range(num_res_blocks + 1):
                skip = skip_widths.pop()
                layers = [res_block(ch + skip, width)]
                ch = width
                if ds in attention_resolutions:
                    layers.append(attention(ch, num_heads_upsample))
                if level > 0 and i == num_res_blocks:
                    if resblock_updown:
                        layers.append(res_block(ch, ch, up=True))
                    else:
                        layers.append(Upsample(ch, conv_resample, dims=dims, out_channels=ch))
                    ds //= 2
                self.output_blocks.append(StepSequential(*layers))
        assert not skip_widths and ds == 1

        # Head. The original builds normalization(ch) and a conv from `input_ch`; both equal the
        # level-0 width here.
        assert ch == first_width
        self.out = nn.Sequential(
            normalization(ch),
            nn.SiLU(),
            conv_nd(dims, first_width, out_channels, 3, padding=1),
        )

    def forward(self, x, timesteps, y=None):
        assert (y is not None) == (self.num_classes is not None), "labels iff class-conditional"
        # The embedding is part of the function's definition and always computed in float32, as in
        # guided-diffusion; a float64 copy of the model evaluates the same function more exactly.
        emb = timestep_embedding(timesteps, self.model_channels).to(x.dtype)
        emb = self.time_embed(emb)
        if self.num_classes is not None:
            assert y.shape == (x.shape[0],)
            emb = emb + self.label_emb(y)

        skips = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)  # decoder features first, then skip
        return self.out(h)
