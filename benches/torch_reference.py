"""PyTorch reference for the U-Net benchmark (optional; `make bench-torch`).

Builds, layer for layer, the same U-Net as the crate's `ddpm::nn::UNet` (src/nn: unet.rs,
blocks.rs, attention.rs, embedding.rs, norm.rs, conv.rs, config.rs), checks that it has the
same number of parameters, and times one training step and one sampling step on the CPU, so
that `cargo bench` (benches/network.rs) can be read against what PyTorch does on the same
machine. Nothing in the crate, its tests or CI needs this file or PyTorch: `make bench-torch`
installs torch only in its own virtual environment, target/torch-venv.

    python benches/torch_reference.py [--config default|mnist-fast|tiny] [--batch 64]
                                      [--threads 2] [--runs 5] [--machine | --serve]

--runs 0 builds the model and checks its parameter count only. --serve times steps on request,
so that benches/network.rs can alternate them with its own: it reads lines "train N" or
"sample N" and answers each with one line of N step times in milliseconds ("quit" or the end of
the input stops it).
"""

import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# UNetConfig::default(), ::mnist_fast() and ::tiny(28) (src/nn/config.rs).
# attn: the feature-map sizes with attention (attention_resolutions).
CONFIGS = {
    "default": dict(in_ch=1, base=32, mults=(1, 2, 2), blocks=2, attn=(7,), groups=8, heads=4, dropout=0.1, size=28),
    "mnist-fast": dict(in_ch=1, base=16, mults=(1, 2, 4), blocks=1, attn=(), groups=8, heads=4, dropout=0.0, size=28),
    "tiny": dict(in_ch=1, base=8, mults=(1, 2), blocks=1, attn=(), groups=4, heads=2, dropout=0.0, size=28),
}
# The counts the Rust crate reports for the same configs: `ddpm::nn::parameter_count` of the
# built model, equal to `UNetConfig::expected_parameter_count()` (its closed form).
EXPECTED_PARAMS = {"default": 1_623_169, "mnist-fast": 619_697}


def timestep_embedding(t, dim):
    """(B,) steps 1..=T, unscaled -> (B, dim): all sines, then all cosines (embedding.rs)."""
    half = dim // 2
    omega = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))  # (half,)
    angles = t.float()[:, None] * omega[None, :]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


class TimeEmbedding(nn.Module):
    """Sinusoid of width ch -> Linear -> SiLU -> Linear, to 4 ch."""

    def __init__(self, base, emb_dim):
        super().__init__()
        self.base, self.lin1, self.lin2 = base, nn.Linear(base, emb_dim), nn.Linear(emb_dim, emb_dim)

    def forward(self, t):  # (B,) -> (B, E)
        return self.lin2(F.silu(self.lin1(timestep_embedding(t, self.base))))


class ResBlock(nn.Module):
    """h = conv1(SiLU(norm1(x))) + emb_proj(SiLU(emb)); out = skip(x) + conv2(Dropout(SiLU(norm2(h))))."""

    def __init__(self, c_in, c_out, emb_dim, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in, eps=1e-5)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):  # (B, C_in, H, W), (B, E) -> (B, C_out, H, W)
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]  # + (B, C_out, 1, 1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """x + proj(multi-head self-attention over the H W pixels of norm(x)), qkv and proj 1x1 convs."""

    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels, eps=1e-5)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):  # (B, C, H, W) -> (B, C, H, W)
        b, c, h, w = x.shape
        heads, d, n = self.heads, c // self.heads, h * w
        qkv = self.qkv(self.norm(x)).reshape(b, 3, heads, d, n)  # channels ordered (q|k|v, head, d)
        q, k, v = (qkv[:, i].reshape(b * heads, d, n) for i in range(3))  # (B heads, d, HW) each
        scores = q.transpose(1, 2) @ k / math.sqrt(d)  # (B heads, HW queries, HW keys)
        attn = scores.softmax(dim=-1)  # over the keys
        out = (v @ attn.transpose(1, 2)).reshape(b, c, h, w)  # (B heads, d, HW) -> (B, C, H, W)
        return x + self.proj(out)


class Stage(nn.Module):
    """A residual block, then attention at the levels that have it."""

    def __init__(self, c_in, c_out, attention, cfg, emb_dim):
        super().__init__()
        self.res = ResBlock(c_in, c_out, emb_dim, cfg["groups"], cfg["dropout"])
        self.attn = AttentionBlock(c_out, cfg["heads"], cfg["groups"]) if attention else None

    def forward(self, x, emb):
        h = self.res(x, emb)
        return self.attn(h) if self.attn is not None else h


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        base, levels, emb_dim = cfg["base"], len(cfg["mults"]), 4 * cfg["base"]
        chans = [base * m for m in cfg["mults"]]
        has_attn = [(cfg["size"] >> level) in cfg["attn"] for level in range(levels)]
        self.time_embed = TimeEmbedding(base, emb_dim)
        self.conv_in = nn.Conv2d(cfg["in_ch"], base, 3, padding=1)
        # Down path; `skips` holds the channels of each feature map kept for the up path.
        skips, ch = [base], base
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for level in range(levels):
            stages = nn.ModuleList()
            for _ in range(cfg["blocks"]):
                stages.append(Stage(ch, chans[level], has_attn[level], cfg, emb_dim))
                ch = chans[level]
                skips.append(ch)
            self.down.append(stages)
            if level + 1 < levels:  # 3x3 conv, stride 2: (H, W) -> (H/2, W/2)
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        # Middle: ResBlock, attention if the smallest level has it, ResBlock.
        self.mid1 = Stage(ch, ch, has_attn[-1], cfg, emb_dim)
        self.mid2 = ResBlock(ch, ch, emb_dim, cfg["groups"], cfg["dropout"])
        # Up path, from the smallest level: blocks + 1 stages, each eating one skip.
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(levels)):
            stages = nn.ModuleList()
            for _ in range(cfg["blocks"] + 1):
                stages.append(Stage(ch + skips.pop(), chans[level], has_attn[level], cfg, emb_dim))
                ch = chans[level]
            self.up.append(stages)
            if level > 0:  # nearest x2, then a 3x3 conv
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.norm_out = nn.GroupNorm(cfg["groups"], ch, eps=1e-5)
        self.conv_out = nn.Conv2d(ch, cfg["in_ch"], 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # an untrained model predicts eps = 0
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t):  # (B, C, H, W), (B,) -> (B, C, H, W)
        emb = self.time_embed(t)  # (B, E)
        h = self.conv_in(x)  # (B, ch, H, W)
        hs = [h]
        for level, stages in enumerate(self.down):
            for stage in stages:
                h = stage(h, emb)  # (B, ch_level, H', W')
                hs.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)  # (B, c, H'/2, W'/2)
                hs.append(h)
        h = self.mid2(self.mid1(h, emb), emb)  # (B, c, H_min, W_min)
        for i, stages in enumerate(self.up):
            for stage in stages:
                h = stage(torch.cat([h, hs.pop()], dim=1), emb)  # (B, c + c_skip, H', W') -> (B, ch_level, H', W')
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2, mode="nearest"))  # (B, c, 2H', 2W')
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, C, H, W)


def median_ms(runs, f):
    f()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return sorted(times)[runs // 2] * 1e3


def sampling_step_for(model, batch, cfg, betas, alphas_bar):
    """Sampling step at t = 500: one forward pass, x_0 clipped to [-1, 1] and eps recomputed
    (Prediction::denoise), then Algorithm 2's update with sigma_t^2 = beta_t."""
    shape = (batch, cfg["in_ch"], cfg["size"], cfg["size"])
    xt_s = torch.randn(shape)
    step = 500
    beta, ab_t = betas[step - 1].item(), alphas_bar[step - 1].item()
    t_s = torch.full((batch,), step)

    @torch.no_grad()
    def sampling_step():
        e = model(xt_s, t_s)
        x0_pred = ((xt_s - math.sqrt(1 - ab_t) * e) / math.sqrt(ab_t)).clamp(-1, 1)
        e = (xt_s - math.sqrt(ab_t) * x0_pred) / math.sqrt(1 - ab_t)
        mean = (xt_s - beta / math.sqrt(1 - ab_t) * e) / math.sqrt(1 - beta)
        return mean + math.sqrt(beta) * torch.randn_like(mean)

    return sampling_step


def serve(model, train_step, sampling_step):
    """Answers "train N" / "sample N" on stdin with the N step times in ms, one line each."""
    steps = {"train": (model.train, train_step), "sample": (model.eval, sampling_step)}
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            return
        mode, f = steps[words[0]]
        mode()  # dropout on for training, off for sampling
        times = []
        for _ in range(int(words[1])):
            start = time.perf_counter()
            f()
            times.append((time.perf_counter() - start) * 1e3)
        print(" ".join(f"{ms:.3f}" for ms in times), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="default")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--machine", action="store_true", help='end with a line "TRAIN_MS SAMPLE_MS"')
    parser.add_argument("--serve", action="store_true", help='answer "train N" / "sample N" with N step times (ms)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = CONFIGS[args.config]

    model = UNet(cfg)
    params = sum(p.numel() for p in model.parameters())
    expected = EXPECTED_PARAMS.get(args.config)
    assert expected is None or params == expected, f"{args.config}: {params} parameters, the crate has {expected}"
    if args.runs <= 0:
        print(f"torch {args.config}: {params} params" + ("" if expected is None else " (= the crate's count)"))
        return

    # The linear schedule of Ho et al.: beta_t from 1e-4 to 0.02, t = 1..=1000 (index t - 1).
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alphas_bar = torch.cumprod(1 - betas, dim=0)
    shape = (args.batch, cfg["in_ch"], cfg["size"], cfg["size"])
    x0, eps = torch.randn(shape), torch.randn(shape)  # (B, 1, 28, 28) each
    t = torch.randint(1, 1001, (args.batch,))  # (B,) in 1..=1000
    ab = alphas_bar[t - 1].float()[:, None, None, None]  # (B, 1, 1, 1)

    # Training step, as src/train/trainer.rs: x_t, the loss, backward, clipping at global norm 1,
    # AdamW (lr 2e-4, no weight decay, candle's betas and eps), then the EMA of the weights.
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ema = [p.detach().clone() for p in model.parameters()]

    def train_step():
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps  # (B, 1, 28, 28)
        loss = F.mse_loss(model(xt, t), eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.lerp_(p, 1 - 0.999)

    if args.serve:
        serve(model, train_step, sampling_step_for(model, args.batch, cfg, betas, alphas_bar))
        return
    model.train()  # dropout on
    train_ms = median_ms(args.runs, train_step)

    sampling_step = sampling_step_for(model, args.batch, cfg, betas, alphas_bar)
    model.eval()  # dropout off
    sample_ms = median_ms(args.runs, sampling_step)
    print(
        f"torch {args.config} batch {args.batch} threads {args.threads}: {params} params"
        f"  train step {train_ms:.1f} ms  sampling step {sample_ms:.1f} ms"
    )
    if args.machine:
        print(f"{train_ms} {sample_ms}")


if __name__ == "__main__":
    main()
