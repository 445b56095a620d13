"""Run under torchrun by test_ddp.py: train a few steps, then dump this rank's generator."""

from __future__ import annotations

import os
import sys

import torch

from context_encoder.checkpoint import unwrap
from context_encoder.config import train_config_from_dict
from context_encoder.training.loop import train

data, run_dir, dump_dir = sys.argv[1:4]
cfg = train_config_from_dict({
    "data": {"data": [data], "workers": 0},
    "model": {"image_size": 32, "bottleneck": 32, "nef": 16, "ngf": 16, "ndf": 16},
    "batch_size": 2, "steps": 3, "out": run_dir, "precision": "fp32", "device": "cpu", "log_every": 1,
})
state = train(cfg).state
torch.save(unwrap(state.generator).state_dict(), os.path.join(dump_dir, f"rank{os.environ['RANK']}.pt"))
