"""Processes of test_ddp.py: a torchrun script (train a few steps, dump this rank's generator) and
``torch.multiprocessing.spawn`` targets for one rank of a gloo job on the CPU: ``train_rank``
trains and dumps its nets, BatchNorm buffers and weight average; ``stop_rank`` asks
``StopSignals.agreed`` once per step while rank 1 gets a SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import torch

from context_encoder.checkpoint import unwrap
from context_encoder.config import train_config_from_dict
from context_encoder.device import setup_runtime, shutdown
from context_encoder.training.interrupt import StopSignals
from context_encoder.training.loop import train

TINY_MODEL = {"image_size": 32, "bottleneck": 32, "nef": 16, "ngf": 16, "ndf": 16}


def _join(rank: int, world: int, port: int) -> None:
    """The environment torchrun gives rank ``rank`` of ``world``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)


def train_rank(rank: int, world: int, port: int, data: str, run_dir: str, dump_dir: str, global_batch: int) -> None:
    """Train rank ``rank`` of ``world`` processes (world 1: a plain single-process run) on
    ``global_batch`` images a step, then save its G, D and EMA state dicts to DUMP/rankR.pt."""
    _join(rank, world, port)
    cfg = train_config_from_dict({
        "data": {"data": [data], "workers": 0}, "model": TINY_MODEL, "optim": {"ema": 0.5},
        "batch_size": global_batch // world, "steps": 2, "out": run_dir, "precision": "fp32", "device": "cpu",
        "channels_last": "off", "log_every": 1,
    })
    state = train(cfg).state
    nets = {"G": unwrap(state.generator), "D": unwrap(state.discriminator), "EMA": state.ema.shadow}
    torch.save({name: {k: v.detach().clone() for k, v in net.state_dict().items()} for name, net in nets.items()},
               Path(dump_dir) / f"rank{rank}.pt")


def stop_rank(rank: int, world: int, port: int, out_dir: str, late_s: float) -> None:
    """Call ``agreed`` once a "step" until it says stop (at most 6 calls); rank 1 starts ``late_s``
    seconds late and sends itself SIGTERM after its second call. Writes OUT/rankR.json: the
    answers, the signal this rank records and how long its first call took."""
    _join(rank, world, port)
    runtime = setup_runtime("cpu", "fp32")
    if rank == 1:
        time.sleep(late_s)
    answers, first_call_s = [], 0.0
    with StopSignals() as stop:
        for call in range(6):
            t0 = time.perf_counter()
            answers.append(stop.agreed(runtime))
            first_call_s = first_call_s or time.perf_counter() - t0
            if rank == 1 and call == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            if answers[-1]:
                break
    shutdown(runtime)
    out = {"answers": answers, "received": stop.received, "first_call_s": first_call_s}
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(out))


if __name__ == "__main__":  # under torchrun
    data, run_dir, dump_dir = sys.argv[1:4]
    cfg = train_config_from_dict({
        "data": {"data": [data], "workers": 0}, "model": TINY_MODEL,
        "batch_size": 2, "steps": 3, "out": run_dir, "precision": "fp32", "device": "cpu", "log_every": 1,
    })
    state = train(cfg).state
    torch.save(unwrap(state.generator).state_dict(), os.path.join(dump_dir, f"rank{os.environ['RANK']}.pt"))
