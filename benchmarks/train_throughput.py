"""Training-step throughput: our fast step against the straightforward PyTorch port, same run.

Each (arch, path) is timed in a fresh process (so peak RSS is its own): a few warm-up steps, then
the median images/s of several timed windows of a full step (D update + G update, joint loss).
The naive reference is what the public ports do: fp32, default memory format, three
discriminator forwards per step, plain convolution kernels, no compile.

    python benchmarks/train_throughput.py                      # center (4000, 128 px) and alexnet
    python benchmarks/train_throughput.py --archs center --windows 5 --device cuda
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import time

import torch
from machine import describe

from context_encoder.config import train_config_from_dict
from context_encoder.device import setup_runtime
from context_encoder.training.loop import build_gan, mask_sampler_for
from context_encoder.training.step import reference_step, train_step


def _measure(arch: str, fast: bool, args: argparse.Namespace, queue: mp.Queue) -> None:
    size = args.image_size
    model = {"arch": arch, "image_size": size, "bottleneck": args.bottleneck}
    cfg = train_config_from_dict({"data": {"data": ["unused"]}, "model": model, "batch_size": args.batch_size,
                                  "steps": 1, "precision": args.precision, "compile": args.compile and fast})
    rt = setup_runtime(args.device, cfg.precision)
    state = build_gan(cfg, rt, fast=fast)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, 3, size, size), dtype=torch.uint8, generator=g)
    masks = mask_sampler_for(cfg)(args.batch_size, g).to(torch.uint8)
    step = train_step if fast else reference_step
    for _ in range(args.warmup):
        step(images, masks, state)
    rt.synchronize()
    rates = []
    for _ in range(args.windows):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            out = step(images, masks, state)
        out["loss_g"].item()  # one host sync per window
        rt.synchronize()
        rates.append(args.batch_size * args.steps / (time.perf_counter() - t0))
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if rt.device.type == "cuda" else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"img_per_s": statistics.median(rates), "windows": rates, "peak_rss_mb": rss,
               "cuda_max_allocated_mb": cuda_peak, "amp": str(rt.amp_dtype) if fast else "fp32"})


def run(arch: str, fast: bool, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(arch, fast, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default="center,alexnet", help="comma-separated architectures")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--bottleneck", type=int, default=4000, help="center net bottleneck (paper: 4000)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--precision", default="auto", help="precision of our path (auto = bf16 where supported)")
    p.add_argument("--compile", action="store_true", help="torch.compile our path")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="steps per timed window")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args()
    print(describe())
    results = {}
    for arch in args.archs.split(","):
        ours, naive = run(arch, True, args), run(arch, False, args)
        results[arch] = {"ours": ours, "naive": naive, "ratio": ours["img_per_s"] / naive["img_per_s"]}
        print(f"{arch}: ours {ours['img_per_s']:.1f} img/s, naive {naive['img_per_s']:.1f} img/s, "
              f"ratio {results[arch]['ratio']:.2f}")
        mem = f"  peak RSS: ours {ours['peak_rss_mb']:.0f} MB, naive {naive['peak_rss_mb']:.0f} MB"
        if ours["cuda_max_allocated_mb"] is not None:
            mem += (f"; CUDA max allocated: ours {ours['cuda_max_allocated_mb']:.0f} MB, "
                    f"naive {naive['cuda_max_allocated_mb']:.0f} MB")
        print(mem + f"  (ours: {ours['amp']} autocast)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": describe(), "args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
