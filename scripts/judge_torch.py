"""A second opinion on generated MNIST digits (optional; `make judge-torch NPY=samples.npy`).

`ddpm eval` judges samples with the crate's own small classifier (src/eval/classifier.rs), which
has an eleventh "no digit" class. This script asks an independent one: a standard PyTorch CNN
(the shape of Keras' `mnist_cnn` example: two 3x3 convolutions of 32 and 64 channels, 2x2 max
pooling, dropout, a 128-unit layer, 10 classes), trained here from the bundled MNIST files with
a fixed seed, then applied to
  - the first 1000 training and test images (what real digits score),
  - 1000 images of uniform noise (what junk scores),
  - each .npy given: float32, shape (N, 1, 28, 28), values in [0, 1], as `ddpm sample --npy` and
    `ddpm eval --npy` write them.
For each it prints the fraction classified with confidence >= 0.9 and the classes.

Nothing in the crate, its tests or CI needs this file or PyTorch: `make judge-torch` installs torch
only in its own virtual environment, target/torch-venv (the one `make bench-torch` uses).

    python scripts/judge_torch.py [--data-dir data/mnist] [--epochs 3] [--threads 2] S.npy [T.npy ...]
"""

import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIDENT = 0.9  # as ddpm eval (src/eval/mod.rs, CONFIDENT)


def read_idx(path):
    """An IDX file (gzip), as the MNIST distribution ships it: magic, dimensions, uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, split):
    """Images (N, 1, 28, 28) in [0, 1] and labels (N,) of `train` or `t10k`."""
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")) / 255.0
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.tensor(x, dtype=torch.float32)[:, None], torch.tensor(y)


def network():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def train(x, y, x_test, y_test, epochs, batch=128):
    """Adam at lr 1e-3; prints the test accuracy after each epoch."""
    net = network()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {100 * accuracy:.2f} %", flush=True)
    return net


def judge(net, x, name):
    with torch.no_grad():
        confidence, label = F.softmax(net(x), 1).max(1)
    confident = (confidence >= CONFIDENT).float().mean().item()
    classes = torch.bincount(label, minlength=10).tolist()
    print(f"{name}: {100 * confident:.1f} % classified with confidence >= {CONFIDENT}; classes 0-9: {classes}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npy", nargs="+", help="samples, float32 (N, 1, 28, 28) in [0, 1]")
    ap.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "..", "data", "mnist"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    x, y = load(args.data_dir, "train")
    x_test, y_test = load(args.data_dir, "t10k")
    net = train(x, y, x_test, y_test, args.epochs)
    judge(net, x[:1000], "real training images (1000)")
    judge(net, x_test[:1000], "real test images (1000)")
    judge(net, torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed)), "uniform noise (1000)")
    for path in args.npy:
        samples = np.load(path)
        if samples.dtype != np.float32 or samples.ndim != 4 or samples.shape[1:] != (1, 28, 28):
            raise SystemExit(f"{path}: expected float32 of shape (N, 1, 28, 28), got {samples.dtype} {samples.shape}")
        if samples.min() < 0 or samples.max() > 1:
            raise SystemExit(f"{path}: expected values in [0, 1], got [{samples.min()}, {samples.max()}]")
        judge(net, torch.tensor(samples), f"{path} ({len(samples)})")


if __name__ == "__main__":
    main()
