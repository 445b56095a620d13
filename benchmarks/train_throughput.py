"""Training-step throughput: our fast step against the straightforward PyTorch port, same run.

Each path is built once in its own process (so each peak RSS is its own) and the two are timed in
turns, window by window (ours, plain, ours, plain, ...), so a change in the machine's load hits
both sides alike: a few warm-up steps, then the median images/s of several timed windows of a full
step (D update + G update, joint loss). The plain port is what the public ports do: fp32, default
memory format, three discriminator forwards per step, plain convolution kernels, no compile.

The run prints the CPU model and its features (AVX2, AVX-512, AVX512-BF16, AMX), the precision of
our path and the thread count, and records the result in the table of docs/benchmarks.md keyed
by the CPU kind, so each figure says where it holds.

    python benchmarks/train_throughput.py                      # center (4000, 128 px) and alexnet
    python benchmarks/train_throughput.py --precision fp32     # fp32 on both sides
    python benchmarks/train_throughput.py --profile            # + per-op table, forward+backward
    python benchmarks/train_throughput.py --device cuda --compile
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import re
import resource
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from machine import cpu_kind, describe, gpu_name

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
TABLE_START, TABLE_END = "<!-- train-throughput table: start -->", "<!-- train-throughput table: end -->"
HEADER = ("| machine | kind | threads | arch | ours: precision, memory format, compile | ours (img/s) "
          "| plain fp32 (img/s) | ratio | date |\n| --- | --- | ---: | --- | --- | ---: | ---: | ---: | --- |")


@dataclass(frozen=True)
class Setup:
    """What one comparison runs: the model, the batch, where, and our path's settings."""

    arch: str = "center"
    batch_size: int = 64
    image_size: int = 128
    bottleneck: int = 4000
    device: str = "auto"
    precision: str = "auto"
    channels_last: str = "auto"
    compile: bool = False
    threads: int = 0  # 0 = torch's default
    small: bool = False  # tiny widths (the --smoke runs of the test suite)
    compile_backend: str = "inductor"  # aot_eager: the same graphs without code generation (--smoke)


def _build(setup: Setup, fast: bool):  # -> (state, step, images, masks)
    from context_encoder.config import train_config_from_dict
    from context_encoder.device import setup_runtime
    from context_encoder.training.loop import build_gan, mask_sampler_for
    from context_encoder.training.step import reference_step, train_step

    model = {"arch": setup.arch, "image_size": setup.image_size, "bottleneck": setup.bottleneck}
    if setup.small:
        model |= {"nef": 8, "ngf": 8, "ndf": 8}
    compiled = setup.compile and fast
    cfg = train_config_from_dict({"data": {"data": ["unused"]}, "model": model, "batch_size": setup.batch_size,
                                  "steps": 1, "precision": setup.precision, "channels_last": setup.channels_last,
                                  "compile": compiled and setup.compile_backend == "inductor"})
    if compiled:
        # train_step backpropagates twice through D's fake-batch graph (retain_graph); a compiled
        # backward that donates its buffers refuses that. training/loop.py needs the same setting.
        torch._functorch.config.donated_buffer = False
    state = build_gan(cfg, setup_runtime(setup.device, cfg.precision), fast=fast)
    if compiled and setup.compile_backend != "inductor":  # as build_gan compiles, another backend
        state.generator = torch.compile(state.generator, backend=setup.compile_backend)
        state.discriminator = state.discriminator and torch.compile(state.discriminator, backend=setup.compile_backend)
    g = torch.Generator().manual_seed(0)
    n, s = setup.batch_size, setup.image_size
    images = torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8, generator=g)
    masks = mask_sampler_for(cfg)(n, g).to(torch.uint8)
    return state, train_step if fast else reference_step, images, masks


def _profile(step, images, masks, state, steps: int) -> dict[str, float]:
    """Self time per op (ms per step), forward and backward, over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if state.runtime.device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            step(images, masks, state)
        state.runtime.synchronize()
    cuda = state.runtime.device.type == "cuda"
    return {e.key: (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1e3 / steps
            for e in prof.key_averages()}


def _worker(setup: Setup, fast: bool, conn, env: dict[str, str]) -> None:
    """Build one path, then serve commands: ("window", steps) -> img/s, ("profile", n), ("stop",).

    ``env`` is set before the first tensor is made (torch's CPU allocator reads e.g.
    THP_MEM_ALLOC_ENABLE once, at its first allocation).
    """
    os.environ.update(env)
    if setup.threads:
        torch.set_num_threads(setup.threads)
    try:
        state, step, images, masks = _build(setup, fast)
    except Exception as err:  # noqa: BLE001 - reported by the parent, which would otherwise see EOF
        conn.send({"error": f"{type(err).__name__}: {err}"})
        return
    rt = state.runtime
    conn.send({"amp": str(rt.amp_dtype).replace("torch.", "") if rt.amp_dtype else "fp32",
               "channels_last": state.channels_last, "threads": torch.get_num_threads(),
               "device": str(rt.device)})
    rt.reset_peak_memory()
    while True:
        cmd = conn.recv()
        if cmd[0] == "window":
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(cmd[1]):
                out = step(images, masks, state)
            out["loss_g"].item()  # one host sync per window
            rt.synchronize()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            conn.send({"img_per_s": setup.batch_size * cmd[1] / wall, "cpu_s_per_step": cpu / cmd[1]})
        elif cmd[0] == "profile":
            conn.send(_profile(step, images, masks, state, cmd[1]))
        else:
            conn.send({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       "device_peak_mb": rt.peak_memory_mb()})
            return


def compare(setup: Setup, *, warmup: int = 2, windows: int = 3, steps: int = 3, profile_steps: int = 0,
            sides: tuple[str, ...] = ("ours", "plain"), inline: bool = False,
            ours_env: dict[str, str] | None = None) -> dict:
    """Time ours and the plain port in turns; returns per-side medians, windows and memory.

    ``inline`` runs the two sides in threads of this process instead (no start-up cost, shared
    peak RSS): for the smoke runs of the test suite. ``ours_env``: environment of our side only.
    """
    ctx = mp.get_context("spawn")
    procs, conns = {}, {}
    for side in sides:
        parent, child = ctx.Pipe()
        env = (ours_env or {}) if side == "ours" and not inline else {}
        target, worker_args = _worker, (setup, side == "ours", child, env)
        procs[side] = threading.Thread(target=target, args=worker_args) if inline else \
            ctx.Process(target=target, args=worker_args)
        procs[side].start()
        conns[side] = parent
    try:
        result = {side: {"info": conns[side].recv(), "windows": [], "cpu_s_per_step": []} for side in sides}
        for side in sides:
            if "error" in result[side]["info"]:
                raise RuntimeError(f"{setup.arch}, {side} path: {result[side]['info']['error']}")
        for side in sides:  # warm-up (and compile) one side at a time
            conns[side].send(("window", warmup))
            conns[side].recv()
        for _ in range(windows):
            for side in sides:
                conns[side].send(("window", steps))
                w = conns[side].recv()
                result[side]["windows"].append(w["img_per_s"])
                result[side]["cpu_s_per_step"].append(w["cpu_s_per_step"])
        if profile_steps:
            for side in sides:
                conns[side].send(("profile", profile_steps))
                result[side]["profile_ms"] = conns[side].recv()
        for side in sides:
            conns[side].send(("stop",))
            result[side] |= conns[side].recv()
            result[side]["img_per_s"] = statistics.median(result[side]["windows"])
    finally:
        for proc in procs.values():
            proc.join(timeout=60)
            if proc.is_alive() and not inline:
                proc.terminate()
    if "ours" in result and "plain" in result:
        result["ratio"] = result["ours"]["img_per_s"] / result["plain"]["img_per_s"]
    return result


def profile_table(ours: dict[str, float], plain: dict[str, float], rows: int = 16) -> str:
    """Markdown: the ops that take the most time on either side, ms per step."""
    skip = ("ProfilerStep", "Optimizer.", "autograd::engine", "[memory]")
    ops = [k for k in Counter(ours) + Counter(plain) if not k.startswith(skip)]
    ops.sort(key=lambda k: -max(ours.get(k, 0), plain.get(k, 0)))
    lines = ["| op (self time) | ours (ms/step) | plain (ms/step) |", "| --- | ---: | ---: |"]
    for k in ops[:rows]:
        lines.append(f"| `{k}` | {ours.get(k, 0):.0f} | {plain.get(k, 0):.0f} |")
    rest = ops[rows:]
    lines.append(f"| other ops | {sum(ours.get(k, 0) for k in rest):.0f} | {sum(plain.get(k, 0) for k in rest):.0f} |")
    total = (sum(v for k, v in d.items() if not k.startswith(skip)) for d in (ours, plain))
    lines.append("| **total** | **{:.0f}** | **{:.0f}** |".format(*total))
    return "\n".join(lines)


def record(path: Path, row: dict[str, str]) -> None:
    """Put ``row`` in the table of ``path``, replacing the row of the same machine and settings."""
    cells = [row[k] for k in ("machine", "kind", "threads", "arch", "ours", "ours_ips", "plain_ips", "ratio", "date")]
    line = "| " + " | ".join(cells) + " |"
    text = path.read_text() if path.exists() else ""
    if TABLE_START not in text:
        text = text.rstrip("\n") + f"\n\n{TABLE_START}\n{HEADER}\n{TABLE_END}\n"
    head, rest = text.split(TABLE_START, 1)
    table, tail = rest.split(TABLE_END, 1)
    rows = [r for r in table.strip().splitlines()[2:] if r.startswith("|")]
    key = cells[:5]
    rows = [r for r in rows if [c.strip() for c in r.strip("|").split("|")][:5] != key] + [line]
    path.write_text(f"{head}{TABLE_START}\n{HEADER}\n" + "\n".join(rows) + f"\n{TABLE_END}{tail}")


def machine_cell() -> str:
    from machine import _cpuinfo

    gpu = gpu_name()
    cpu = re.sub(r"\s+", " ", _cpuinfo()[0].replace("(R)", "").replace("(TM)", ""))
    return f"{gpu} (host {cpu})" if gpu else cpu


def report(arch: str, res: dict, args: argparse.Namespace) -> None:
    """Print one comparison (and its profile) and put it in the docs table."""
    ours, plain = res["ours"], res["plain"]
    info = ours["info"]
    settings = (f"{info['amp']}, {'channels_last' if info['channels_last'] else 'contiguous'}"
                + (", compile" if args.compile else "") + "".join(f", {e}" for e in args.ours_env))
    print(f"{arch}: ours {ours['img_per_s']:.1f} img/s ({settings}), plain {plain['img_per_s']:.1f} img/s "
          f"(fp32, contiguous), ratio {res['ratio']:.2f}; {info['threads']} threads on {info['device']}, "
          f"windows interleaved")
    cpu_ratio = statistics.median(plain["cpu_s_per_step"]) / statistics.median(ours["cpu_s_per_step"])
    mem = (f"  CPU time per step: ratio {cpu_ratio:.2f}; peak RSS: ours {ours['peak_rss_mb']:.0f} MB, "
           f"plain {plain['peak_rss_mb']:.0f} MB")
    if ours["device_peak_mb"] is not None:
        mem += f"; CUDA max allocated: ours {ours['device_peak_mb']:.0f} MB, plain {plain['device_peak_mb']:.0f} MB"
    print(mem)
    if args.profile:
        print(profile_table(ours["profile_ms"], plain["profile_ms"]))
    if args.no_record:
        return
    arch_cell = f"`{arch}`" + (f" (bottleneck {args.bottleneck})" if arch == "center" else "")
    record(args.docs, {
        "machine": machine_cell(), "kind": "CUDA" if "cuda" in info["device"] else cpu_kind(),
        "threads": str(info["threads"]), "arch": f"{arch_cell}, batch {args.batch_size}, {args.image_size} px",
        "ours": settings, "ours_ips": f"{ours['img_per_s']:.1f}", "plain_ips": f"{plain['img_per_s']:.1f}",
        "ratio": f"**{res['ratio']:.2f}×**", "date": datetime.date.today().isoformat()})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default="center,alexnet", help="comma-separated architectures (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    p.add_argument("--image-size", type=int, default=128, help="(default: %(default)s)")
    p.add_argument("--bottleneck", type=int, default=4000,
                   help="center net bottleneck (default: %(default)s, the paper's)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="(default: %(default)s)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="precision of our path; the plain port is always fp32 (default: %(default)s = bf16 on CUDA "
                   "and on CPUs with AVX512-BF16 or AMX, else fp32)")
    p.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"),
                   help="memory format of our path (default: %(default)s)")
    p.add_argument("--compile", action="store_true", help="torch.compile our path")
    p.add_argument("--threads", type=int, default=0, help="torch threads in each process (default: 0 = torch's own)")
    p.add_argument("--ours-env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for our side only, e.g. THP_MEM_ALLOC_ENABLE=1 (repeatable)")
    p.add_argument("--warmup", type=int, default=2, help="steps before timing (default: %(default)s)")
    p.add_argument("--windows", type=int, default=3, help="timed windows per side (default: %(default)s)")
    p.add_argument("--steps", type=int, default=3, help="steps per timed window (default: %(default)s)")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="also profile this many steps per side and print the per-op table (default: 0 = no)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--docs", type=Path, default=DOCS,
                   help="the page whose table gets the result (default: %(default)s)")
    p.add_argument("--no-record", action="store_true", help="print only; leave the docs table alone")
    args = p.parse_args()
    print(describe())
    results = {}
    for arch in args.archs.split(","):
        setup = Setup(arch=arch, batch_size=args.batch_size, image_size=args.image_size, bottleneck=args.bottleneck,
                      device=args.device, precision=args.precision, channels_last=args.channels_last,
                      compile=args.compile, threads=args.threads)
        res = compare(setup, warmup=args.warmup, windows=args.windows, steps=args.steps, profile_steps=args.profile,
                      ours_env=dict(item.split("=", 1) for item in args.ours_env))
        results[arch] = res
        report(arch, res, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": describe(), "args": vars(args) | {"docs": str(args.docs)},
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
