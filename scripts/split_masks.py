"""Split a folder of hole masks into a training and a held-out part by a seeded permutation.

The two parts are folders of symbolic links (nothing is copied), so the shared data stays where
it is. The default split of ``irregular-masks/``: 80 % for training, 20 % (600 masks) held out.

    python scripts/split_masks.py ../shared/data/irregular-masks runs/masks --held-out 0.2 --seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def split(folder: Path, out: Path, *, held_out: float, seed: int) -> tuple[int, int]:
    """Link every PNG of ``folder`` into ``out/train`` or ``out/heldout``: (n_train, n_heldout)."""
    masks = sorted(p for p in folder.rglob("*.png"))
    if not masks:
        raise SystemExit(f"no PNG masks in {folder}")
    order = torch.randperm(len(masks), generator=torch.Generator().manual_seed(seed)).tolist()
    n_held = round(len(masks) * held_out)
    for part, picks in (("heldout", order[:n_held]), ("train", order[n_held:])):
        target = out / part
        target.mkdir(parents=True, exist_ok=True)
        for i in picks:
            link = target / masks[i].name
            if not link.exists():
                link.symlink_to(masks[i].resolve())
    return len(masks) - n_held, n_held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of PNG masks")
    parser.add_argument("out", type=Path, help="where the train/ and heldout/ folders of links go")
    parser.add_argument("--held-out", type=float, default=0.2, help="share held out (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="permutation seed (default: %(default)s)")
    args = parser.parse_args()
    n_train, n_held = split(args.folder, args.out, held_out=args.held_out, seed=args.seed)
    print(f"{n_train} training masks in {args.out / 'train'}, {n_held} held out in {args.out / 'heldout'}")


if __name__ == "__main__":
    main()
