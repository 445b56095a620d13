"""Regenerate the tables of docs/results.md from ``context-encoder evaluate`` reports (the paper's Table 1).

From the repository root, with the shared data at ../shared/data:

    python benchmarks/results_table.py                      # evaluate the packaged model, copy artifacts, rewrite
    python benchmarks/results_table.py --checkpoint RUN_DIR   # another model
    python benchmarks/results_table.py --tables-only                      # rewrite from docs/results/*/

Each entry of REPORTS is one ``context-encoder evaluate`` command (printed, and written into the doc)
run into ``runs/eval/<name>``; its summary.json and table.md (and examples.png where kept) are copied
to ``docs/results/<name>/``. Every ``<!-- results:KEY -->`` ... ``<!-- /results -->`` block of the doc
is then replaced by what KEY names: a report's table, ``checkpoint`` or ``commands``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

from context_encoder.checkpoint import PRETRAINED, find_checkpoint
from context_encoder.cli import main as cli_main
from context_encoder.evaluation.report import metrics_table

ALL = "model,harmonic,mean-fill,opencv-telea,opencv-ns,nn-hog,nn-features"
MASK_METHODS = "model,harmonic,mean-fill,opencv-telea,opencv-ns,nn-hog"  # nn-features needs one hidden region
PHOTO_METHODS = "model,harmonic,opencv-telea,opencv-ns,opencv-fsr,biharmonic"
PHOTOS = ["--protocol", "photos", "--mask-dir", "runs/masks/heldout", "--hole-share", "10-50", "--limit", "40"]
BLENDS = "hard,poisson"  # the model row as the paper pastes it and as `inpaint` does by default
# name -> (subset of the data root, extra evaluate flags, whether the example grid is kept in docs/)
REPORTS: dict[str, tuple[str, list[str], bool]] = {
    "bsd100-inner": ("bsd100", ["--methods", ALL, "--overlap", "model", "--blend", BLENDS], True),
    "camvid-test-inner": ("camvid/test", ["--methods", ALL, "--overlap", "model", "--blend", BLENDS], True),
    "bsd100-full": ("bsd100", ["--methods", ALL, "--overlap", "0", "--blend", BLENDS], False),
    "camvid-test-full": ("camvid/test", ["--methods", ALL, "--overlap", "0", "--blend", BLENDS], False),
    "bsd100-masks": ("bsd100", ["--methods", MASK_METHODS, "--protocol", "masks", "--mask-dir",
                                "{root}/irregular-masks", "--blend", BLENDS], True),
    "camvid-test-masks": ("camvid/test", ["--methods", MASK_METHODS, "--protocol", "masks", "--mask-dir",
                                          "{root}/irregular-masks", "--blend", BLENDS], False),
    # photos at their own size, held-out masks (python scripts/split_masks.py ../shared/data/irregular-masks runs/masks)
    "bsd100-photos": ("bsd100", ["--methods", PHOTO_METHODS, *PHOTOS, "--blend", BLENDS], True),
    "camvid-test-photos": ("camvid/test", ["--methods", PHOTO_METHODS, *PHOTOS, "--blend", BLENDS], False),
}
KEPT = ("summary.json", "table.md")
BLOCK = re.compile(r"(<!-- results:(?P<key>[\w-]+) -->\n).*?(<!-- /results -->)", re.S)


def command(name: str, *, root: str, checkpoint: str, bank: str, scratch: Path) -> list[str]:
    """The evaluate argv of one report."""
    subset, flags, _ = REPORTS[name]
    argv = ["evaluate", "--data", f"{root}/{subset}", *(f.format(root=root) for f in flags)]
    if "model" in argv[argv.index("--methods") + 1]:
        argv += ["--checkpoint", checkpoint]
    if "nn-" in argv[argv.index("--methods") + 1]:
        argv += ["--nn-bank", bank]
    return [*argv, "--examples", "4", "--report", str(scratch / name)]


def run_reports(*, root: str, checkpoint: str, bank: str, scratch: Path, docs: Path,
                only: list[str] | None = None) -> list[str]:
    """Run every report (or ``only`` these), copy the kept artifacts into ``docs``; return the shell
    commands of all of them."""
    shown = []
    for name in REPORTS:
        if only and name not in only:
            shown.append(shlex.join(["context-encoder", *command(name, root=root, checkpoint=checkpoint, bank=bank,
                                                                 scratch=scratch)]))
            continue
        argv = command(name, root=root, checkpoint=checkpoint, bank=bank, scratch=scratch)
        shown.append(shlex.join(["context-encoder", *argv]))
        print(shown[-1], flush=True)
        if cli_main(argv) != 0:
            raise SystemExit(f"evaluate failed: {shown[-1]}")
        dest = docs / name
        dest.mkdir(parents=True, exist_ok=True)
        for file in KEPT + (("examples.png",) if REPORTS[name][2] else ()):
            shutil.copyfile(scratch / name / file, dest / file)
    (docs / "commands.txt").write_text("\n".join(shown) + "\n")
    return shown


def render(key: str, docs: Path) -> str:
    """The markdown that replaces the block named ``key``."""
    if key == "commands":
        return "```sh\n" + (docs / "commands.txt").read_text() + "```\n"
    if key == "checkpoint":
        summary = json.loads((docs / "bsd100-inner" / "summary.json").read_text())
        parts = [f"`{c['path']}`" + (f" at step {c['step']}" if c["step"] is not None else "")
                 + f" (overlap {c['overlap_px']} px)" for c in summary["checkpoints"].values()]
        return "Checkpoint evaluated: " + ", ".join(parts) + ".\n"
    summary = json.loads((docs / key / "summary.json").read_text())
    head = (f"`{summary['data']}`, {summary['n_images']} images, protocol `{summary['protocol']}`; "
            f"hidden: {summary['hidden_region']}.")
    return "\n".join([head, "", *metrics_table(summary["methods"])]) + "\n"


def rewrite(doc: Path, docs: Path) -> None:
    text = doc.read_text()
    new = BLOCK.sub(lambda m: m.group(1) + render(m.group("key"), docs) + m.group(3), text)
    doc.write_text(new)
    print(f"rewrote {doc} ({len(BLOCK.findall(text))} blocks)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=PRETRAINED,
                   help="run dir of the model, or 'pretrained': the packaged one (default: %(default)s)")
    p.add_argument("--data-root", default="../shared/data", help="shared data folder (default: %(default)s)")
    p.add_argument("--bank", default="../shared/data/imagenet-sample",
                   help="training images for the nearest-neighbour baselines (default: %(default)s)")
    p.add_argument("--scratch", type=Path, default=Path("runs/eval"), help="full reports (default: %(default)s)")
    p.add_argument("--docs", type=Path, default=Path("docs/results"), help="kept artifacts (default: %(default)s)")
    p.add_argument("--doc", type=Path, default=Path("docs/results.md"), help="doc to rewrite (default: %(default)s)")
    p.add_argument("--tables-only", action="store_true", help="only rewrite the doc from the kept summaries")
    p.add_argument("--only", nargs="+", choices=list(REPORTS), help="run these reports only (default: all)")
    args = p.parse_args()
    if not args.tables_only:
        # pin the newest step now, so every report scores the same weights while training goes on
        pinned = args.checkpoint
        if pinned != PRETRAINED:
            pinned = find_checkpoint(args.checkpoint).parent.as_posix()
        run_reports(root=args.data_root, checkpoint=pinned, bank=args.bank, scratch=args.scratch, docs=args.docs,
                    only=args.only)
    rewrite(args.doc, args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
