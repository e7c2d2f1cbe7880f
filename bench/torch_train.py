#!/usr/bin/python3
"""torch_train.py: the PyTorch anchor for bench/train_bench.sh. Trains the same Fashion-MNIST
models as models/fmnist_mlp.kiln and models/fmnist_cnn.kiln (same layers, batch, optimizer,
learning rate and thread count) with Debian's python3-torch, and prints one JSON line:
{"model", "threads", "batch", "samples", "seconds", "cpu_seconds", "samples_per_second",
"test_accuracy"}.
Usage: torch_train.py mlp|cnn --threads T [--batch 64] [--epochs 1] [--limit N] [--data DIR]
"""
import argparse, gzip, json, struct, time

import numpy as np
import torch
import torch.nn as nn


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def model(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                             nn.ReLU(), nn.Linear(128, 10))
    # the spec's NHWC layers in PyTorch's NCHW: the same arithmetic
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.3), nn.Linear(3136, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["mlp", "cnn"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x = idx(a.data + "/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(a.data + "/train-labels-idx1-ubyte.gz").astype(np.int64)
    tx = idx(a.data + "/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    ty = idx(a.data + "/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    x = torch.from_numpy(x).unsqueeze(1)
    y = torch.from_numpy(y)
    tx = torch.from_numpy(tx).unsqueeze(1)
    ty = torch.from_numpy(ty)
    m = model(a.model)
    opt = torch.optim.Adam(m.parameters(), lr=a.lr, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    n = x.shape[0]
    samples, seconds, cpu = 0, 0.0, 0.0
    for _ in range(a.epochs):
        m.train()
        perm = torch.randperm(n, generator=g)
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, n, a.batch):
            idx_ = perm[s:s + a.batch]
            xb, yb = x[idx_], y[idx_]
            opt.zero_grad(set_to_none=True)
            loss = lossf(m(xb), yb)
            loss.backward()
            opt.step()
            samples += xb.shape[0]
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
    m.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, tx.shape[0], 1000):
            correct += (m(tx[s:s + 1000]).argmax(1) == ty[s:s + 1000]).sum().item()
    print(json.dumps({"model": a.model, "threads": a.threads, "batch": a.batch,
                      "samples": samples, "seconds": seconds, "cpu_seconds": cpu,
                      "samples_per_second": samples / seconds,
                      "test_accuracy": correct / tx.shape[0]}))


if __name__ == "__main__":
    main()
