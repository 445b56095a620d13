"""Everything a GPU machine has to confirm, in one script (under 8 minutes on one GPU).

1. the tests that skip without CUDA (tests/test_cuda.py);
2. training-step throughput, ours against the plain fp32 port, ours in bf16 + channels_last with
   torch.compile off and on, with CUDA max-allocated memory per side (benchmarks/train_throughput.py);
3. generator latency at batch 1 and batch 64: eager fp32, eager bf16 autocast, compiled bf16;
4. a 2-process DDP training step (NCCL) when the machine has two GPUs or more.

Parts are skipped, with a line saying so, once ``--budget-s`` is spent. ``--smoke`` runs every
part on the CPU at tiny sizes in seconds (tests/test_gpu_check.py), so the script cannot rot.

    python benchmarks/gpu_check.py --out gpu_check.json
    python benchmarks/gpu_check.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from machine import describe
from train_throughput import Setup, compare

ROOT = Path(__file__).resolve().parents[1]


def run_cuda_tests(smoke: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_cuda.py")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    counts = [line for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|skipped|failed|error)", line)]
    summary = counts[-1].strip("= ") if counts else f"exit {proc.returncode}"
    print(f"CUDA tests: {summary}", flush=True)
    if proc.returncode not in (0, 5):  # 5: nothing collected
        print(proc.stdout[-3000:] + proc.stderr[-2000:])
    return {"returncode": proc.returncode, "summary": summary}


def train_throughput(device: str, smoke: bool, archs: list[str]) -> dict:
    """Ours (bf16 where the device has it, channels_last auto) vs plain fp32; then ours compiled."""
    size = {"batch_size": 4, "image_size": 32, "bottleneck": 16, "small": True, "compile_backend": "aot_eager"} \
        if smoke else {}
    timing = {"warmup": 2, "windows": 1, "steps": 1} if smoke else {"warmup": 5, "windows": 5, "steps": 20}
    out = {}
    for arch in archs:
        arch_size = size | ({"image_size": 96} if smoke and arch == "alexnet" else {})
        for compiled in (False, True):
            setup = Setup(arch=arch, device=device, compile=compiled, **arch_size)
            sides = ("ours",) if compiled else ("ours", "plain")
            res = compare(setup, **timing, sides=sides, inline=smoke)
            key = f"{arch}{' compiled' if compiled else ''}"
            out[key] = {side: {k: res[side][k] for k in ("img_per_s", "windows", "device_peak_mb", "info")}
                        for side in sides}
            plain = out[arch]["plain"]["img_per_s"]
            ours = res["ours"]
            mem = ours["device_peak_mb"]
            print(f"train step {key}: ours {ours['img_per_s']:.0f} img/s ({ours['info']['amp']}, "
                  f"{'channels_last' if ours['info']['channels_last'] else 'contiguous'}"
                  f"{', compile' if compiled else ''}), plain {plain:.0f} img/s, ratio "
                  f"{ours['img_per_s'] / plain:.2f}" + (f"; max allocated {mem:.0f} MB" if mem is not None else ""),
                  flush=True)
    return out


def _latency_ms(fn, repeats: int, sync) -> float:
    for _ in range(3):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def inference_latency(device: str, smoke: bool) -> dict:
    """Generator forward at batch 1 and 64 (128 px, paper's bottleneck): fp32, bf16, compiled bf16."""
    from context_encoder.config import ModelConfig
    from context_encoder.device import setup_runtime
    from context_encoder.models import build_generator

    cfg = ModelConfig(image_size=32, bottleneck=16, nef=8, ngf=8) if smoke else ModelConfig(image_size=128)
    rt = setup_runtime(device, "auto")
    fmt = torch.channels_last if rt.device.type == "cuda" else torch.contiguous_format
    gen = build_generator(cfg).to(rt.device, memory_format=fmt).eval()
    compiled = torch.compile(gen, backend="aot_eager" if smoke else "inductor")  # smoke: no code generation
    out = {}
    for batch in (1, 4) if smoke else (1, 64):
        x = (torch.rand(batch, 3, cfg.image_size, cfg.image_size, device=rt.device) * 2 - 1).contiguous(
            memory_format=fmt)
        row = {}
        for name, net, amp in (("eager fp32", gen, None), ("eager bf16", gen, torch.bfloat16),
                               ("compiled bf16", compiled, torch.bfloat16)):
            def fn(net=net, amp=amp, x=x):
                autocast = torch.autocast(rt.device.type, dtype=amp or torch.bfloat16, enabled=amp is not None)
                with torch.inference_mode(), autocast:
                    return net(x)

            row[name] = _latency_ms(fn, 3 if smoke else 50, rt.synchronize)
        out[f"batch {batch}"] = row
        print(f"generator latency, batch {batch}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in row.items()), flush=True)
    return out


def ddp_step(smoke: bool) -> dict:
    """Two processes under torchrun (NCCL on GPUs, gloo in --smoke) train 3 steps and must agree."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", __file__, "--ddp-worker"] + (["--smoke"] if smoke else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ddp:")]
    print(lines[-1] if lines else f"ddp: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}")
    return {"returncode": proc.returncode, "result": lines[-1] if lines else proc.stderr[-3000:]}


def ddp_worker(smoke: bool) -> None:
    import torch.distributed as dist

    from context_encoder.checkpoint import unwrap
    from context_encoder.config import train_config_from_dict
    from context_encoder.device import setup_runtime, shutdown
    from context_encoder.training.loop import build_gan, mask_sampler_for
    from context_encoder.training.step import train_step

    model = {"image_size": 32, "bottleneck": 16, "nef": 8, "ngf": 8, "ndf": 8} if smoke else {}
    cfg = train_config_from_dict({"data": {"data": ["unused"]}, "model": model, "batch_size": 4 if smoke else 64,
                                  "steps": 3, "device": "cpu" if smoke else "cuda"})
    rt = setup_runtime(cfg.device, cfg.precision)
    state = build_gan(cfg, rt)
    g = torch.Generator().manual_seed(rt.rank)  # each rank its own batch, as a sharded loader gives
    s = cfg.model.image_size
    times = []
    for _ in range(3):
        images = torch.randint(0, 256, (cfg.batch_size, 3, s, s), dtype=torch.uint8, generator=g)
        t0 = time.perf_counter()
        train_step(images, mask_sampler_for(cfg)(cfg.batch_size, g).to(torch.uint8), state)
        rt.synchronize()
        times.append(time.perf_counter() - t0)
    flat = torch.cat([p.detach().float().flatten() for p in unwrap(state.generator).parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    diff = (flat - ref).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    if rt.is_main:
        print(f"ddp: {rt.world_size} ranks on {rt.device.type}, step {times[-1] * 1000:.0f} ms (3rd step), "
              f"generator weights max |rank - rank 0| = {diff.item():.1e}", flush=True)
    shutdown(rt)
    if diff.item() != 0:
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, seconds (the test suite's run)")
    p.add_argument("--archs", help="architectures to time (default: center,alexnet; center with --smoke)")
    p.add_argument("--budget-s", type=float, default=420, help="skip the parts not begun after this many "
                   "seconds (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="JSON report (default: %(default)s)")
    p.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)  # run by torchrun, see ddp_step
    args = p.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args.smoke)
    device = "cpu" if args.smoke else "cuda"
    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here (use --smoke for the CPU run)")
    archs = (args.archs or ("center" if args.smoke else "center,alexnet")).split(",")
    print(describe())
    t0, report = time.perf_counter(), {"machine": describe(), "smoke": args.smoke}
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    parts = [("cuda_tests", lambda: run_cuda_tests(args.smoke)),
             ("train_throughput", lambda: train_throughput(device, args.smoke, archs)),
             ("inference_latency", lambda: inference_latency(device, args.smoke)),
             ("ddp", (lambda: ddp_step(args.smoke)) if args.smoke or gpus >= 2 else None)]
    for name, part in parts:
        if part is None:
            print(f"{name}: skipped ({gpus} GPU)")
        elif time.perf_counter() - t0 > args.budget_s:
            print(f"{name}: skipped (budget of {args.budget_s:.0f} s spent)")
        else:
            t_part = time.perf_counter()
            report[name] = part()
            print(f"  ({name}: {time.perf_counter() - t_part:.0f} s)", flush=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))  # what is done so far survives a kill
    print(f"gpu_check: {time.perf_counter() - t0:.0f} s, report in {args.out}")


if __name__ == "__main__":
    main()
