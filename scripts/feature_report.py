"""Report the AlexNet transfer campaign of scripts/run_features.py (issue 27) in docs/feature_learning.md.

Reads RUN/{settings.json, curve.jsonl, noise.jsonl, pretrain_time.jsonl, linear.jsonl,
finetune.jsonl} and replaces the block between the ``results-transfer`` markers of ``--doc``
(appended as a new section when the doc has none): the table (variant × segmentation mIoU ×
CIFAR-10 linear probe × fine-tuning), the compute per variant, the curve (a table and a PNG plot),
per-class IoU, and one sentence per paper claim, judged from the numbers against the probe's own
seed spread. A campaign still running is reported as far as it got.

    python scripts/feature_report.py runs/features
    python scripts/feature_report.py /tmp/fl_smoke --doc /tmp/fl_smoke/doc.md --figure /tmp/fl_smoke/curve.png
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKS = ("<!-- results-transfer:start -->", "<!-- results-transfer:end -->")
ORDER = ("random", "autoencoder", "center", "region")
SECTION = "\n## The paper's net on the paper's transfer test: segmentation (issue 27)\n\n"


def read_rows(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line of a killed run
            continue
    return rows


class Campaign:
    """The rows of one RUN folder, with the variant order of the paper's claims."""

    def __init__(self, run: Path) -> None:
        if not (run / "settings.json").is_file():
            raise SystemExit(f"{run} holds no campaign of scripts/run_features.py (no settings.json)")
        self.run = run
        self.settings = json.loads((run / "settings.json").read_text())
        self.batch = int(self.settings["batch_size"])
        self.curve = read_rows(run / "curve.jsonl")
        self.noise = read_rows(run / "noise.jsonl")
        self.times = read_rows(run / "pretrain_time.jsonl")
        self.linear = {r["variant"]: r for r in read_rows(run / "linear.jsonl")}
        self.finetune = {r["variant"]: r for r in read_rows(run / "finetune.jsonl")}
        present = {r["variant"] for r in self.curve}
        self.variants = [v for v in ORDER if v in present]

    def points(self, variant: str) -> list[dict]:
        """The variant's curve rows by step; the pre-trained ones start from random's step 0 (same weights)."""
        own = sorted((r for r in self.curve if r["variant"] == variant), key=lambda r: r["step"])
        start = [r for r in self.curve if r["variant"] == "random" and r["step"] == 0]
        return own if variant == "random" or (own and own[0]["step"] == 0) else start + own

    def last(self, variant: str) -> dict:
        return self.points(variant)[-1]

    def pretrain_seconds(self, variant: str) -> float:
        return sum(r["seconds"] for r in self.times if r["variant"] == variant)

    def random_probes(self) -> list[float]:
        """The random encoder's test mIoU (points) under every probe seed."""
        return [100 * r["test_miou"] for r in self.curve + self.noise if r["variant"] == "random" and r["step"] == 0]

    def spread(self) -> float | None:
        """Std (points) of the random encoder's test mIoU over probe seeds; None with one seed."""
        values = self.random_probes()
        return statistics.stdev(values) if len(values) > 1 else None

    def miou_at(self, variant: str, step: int) -> float | None:
        """Test mIoU (points) of ``variant`` after ``step`` steps (random: the same at every step)."""
        rows = self.points(variant)
        row = rows[0] if variant == "random" and rows else next((r for r in rows if r["step"] == step), None)
        return None if row is None else 100 * row["test_miou"]


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def setup_text(c: Campaign) -> str:
    s = c.settings
    images = s["steps"] * s["batch_size"]
    return (f"Pre-training: {s['steps']} steps × batch {s['batch_size']} ({images:,} crops of 227 px) per variant, "
            f"Adam {s['lr']:g} (constant, β1 0.5), L2 loss only, seed {s['seed']}, on `more-photos/` + "
            f"`imagenet-sample/` + `camvid/train` (shorter side {s['load_size']} px). Segmentation probe: encoder "
            f"conv5 + BatchNorm + 1×1 conv, bilinear upsampling, fine-tuned end to end at {s['seg_height']}×"
            f"{s['seg_width']} px for {plural(s['seg_epochs'], 'epoch')} on `camvid/train`"
            f"{' (' + str(s['seg_limit']) + ' images per split)' if s['seg_limit'] else ''}, epoch chosen on "
            f"`camvid/val`, mIoU over the 11 classes on `camvid/test` (void ignored). CIFAR-10 at 127 px, pool5 "
            f"(2,304 dims): linear probe on {s['linear_per_class']} train / {s['test_per_class']} test images per "
            f"class; fine-tuning {plural(s['finetune_epochs'], 'epoch')}, Adam {s['finetune_lr']:g}, batch "
            f"{s['finetune_batch']}, on the same images.")


def command(c: Campaign) -> str:
    s, default_root = c.settings, "../shared/data"
    flags = [f"--out {c.run}", f"--steps {s['steps']}", f"--chunk {s['chunk']}", f"--batch-size {s['batch_size']}",
             f"--lr {s['lr']:g}", f"--seg-epochs {s['seg_epochs']}"]
    flags += [f"--seg-limit {s['seg_limit']}"] if s["seg_limit"] else []
    flags += [f"--data-root {s['data_root']}"] if s["data_root"] != default_root else []
    return f"python scripts/run_features.py {' '.join(flags)}\npython scripts/feature_report.py {c.run}"


def main_table(c: Campaign) -> list[str]:
    lines = ["| pre-training | steps | seg test mIoU (%) | seg val mIoU (%) | seg pixel acc. (%) | "
             "CIFAR-10 linear top-1 (%) | CIFAR-10 fine-tune top-1 (%) |", "| --- " * 7 + "|"]
    for v in c.variants:
        r, lin, ft = c.last(v), c.linear.get(v), c.finetune.get(v)
        lines.append(f"| {v} | {r['step']} | {pct(r['test_miou'])} | {pct(r['val_miou'])} | "
                     f"{pct(r['pixel_accuracy'])} | {pct(lin and lin['top1'])} | {pct(ft and ft['top1'])} |")
    sd, n = c.spread(), len(c.random_probes())
    spread = (f"the random encoder probed with {n} probe seeds (head init, data order, flips) gives a test mIoU "
              f"std of {sd:.2f} points" if sd is not None else "not measured (one probe seed)")
    return [*lines, "", f"Probe spread: {spread}. Seg columns: the last curve point of each variant."]


def compute_table(c: Campaign) -> list[str]:
    lines = ["| variant | pre-training wall (min) | s / step | seg probes (n, min) | CIFAR linear (min) | "
             "fine-tune (min) |", "| --- | --- | --- | --- | --- | --- |"]
    total = 0.0
    for v in c.variants:
        train = c.pretrain_seconds(v)
        steps = c.last(v)["step"]
        probes = [r["probe_seconds"] for r in c.curve + c.noise if r["variant"] == v]
        lin, ft = c.linear.get(v, {}).get("seconds", 0.0), c.finetune.get(v, {}).get("seconds", 0.0)
        total += train + sum(probes) + lin + ft
        per_step = f"{train / steps:.2f}" if steps else "–"
        lines.append(f"| {v} | {train / 60:.1f} | {per_step} | {len(probes)}, {sum(probes) / 60:.1f} | "
                     f"{lin / 60:.1f} | {ft / 60:.1f} |")
    lines += ["", f"In all: {total / 3600:.2f} h of wall time on this 2-core CPU, niced, beside other work "
              "(pre-training wall time includes each chunk's start: decoding the photos)."]
    return lines


def curve_table(c: Campaign) -> list[str]:
    steps = sorted({r["step"] for v in c.variants for r in c.points(v)})
    lines = ["| step | images seen | " + " | ".join(c.variants) + " |", "| --- | --- |" + " --- |" * len(c.variants)]
    for step in steps:
        cells = []
        for v in c.variants:
            row = next((r for r in c.points(v) if r["step"] == step), None)
            cells.append(pct(row and row["test_miou"]))
        lines.append(f"| {step} | {step * c.settings['batch_size']:,} | " + " | ".join(cells) + " |")
    return lines


def class_table(c: Campaign) -> list[str]:
    names = list(c.last(c.variants[0])["per_class_iou"])
    lines = ["| variant | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for v in c.variants:
        iou = c.last(v)["per_class_iou"]
        lines.append(f"| {v} | " + " | ".join(pct(iou[n]) for n in names) + " |")
    return lines


# ---- the paper's claims -----------------------------------------------------------------------
def verdict(gap: float, sd: float | None) -> str:
    if sd is None:
        return "shown, without a spread to judge it" if gap > 0 else "not shown"
    if gap > 2 * sd:
        return "holds"
    return "reversed" if gap < -2 * sd else "a tie within 2 std of the probe"


def gaps(c: Campaign, a: str, b: str) -> list[tuple[int, float]]:
    """(images seen, mIoU of a − mIoU of b in points) at every step both were probed."""
    steps = sorted({r["step"] for v in (a, b) for r in c.points(v)})
    pairs = [(s, c.miou_at(a, s), c.miou_at(b, s)) for s in steps]
    return [(s * c.settings["batch_size"], x - y) for s, x, y in pairs if x is not None and y is not None]


def shown(verdict_text: str) -> bool:
    return verdict_text.startswith(("holds", "shown"))


def trend(path: list[tuple[int, float]], sd: float | None, *, holds: bool, batch: int) -> str:
    """What the curve of a gap says: its values, and where it is heading."""
    text = " → ".join(f"{g:+.2f}" for _, g in path) + f" points at {', '.join(f'{n:,}' for n, _ in path)} images"
    if len(path) < 2:
        return text + "; one point, no trend"
    (n0, g0), (n1, g1) = path[-2], path[-1]
    change, margin = g1 - g0, 2 * sd if sd is not None else 0.0
    moved = f"over the last {n1 - n0:,} images it moved {change:+.2f}"
    moved += f" (within the probe's 2 std, {margin:.2f})" if abs(change) <= margin else ""
    if holds:
        return f"{text}; {moved}"
    if change <= 0:
        return (f"{text}; {moved}, not toward the claim: the curve does not suggest that more pre-training at this "
                "rate would show it")
    more = (margin - g1) / (change / (n1 - n0))
    return (f"{text}; {moved}, toward the claim: a straight line through the last two points clears the 2-std "
            f"margin after about {more:,.0f} more images ({more / batch:,.0f} more steps per variant), a guess, "
            "not a measurement")


def claim_lines(c: Campaign) -> list[str]:
    """One sentence per paper claim, each link of it judged against the probe's spread."""
    sd, have, out = c.spread(), set(c.variants), []
    for chain in (("region", "autoencoder", "random"), ("region", "center")):
        name = " > ".join("CE (region)" if v == "region" else v for v in chain)
        if not set(chain) <= have:
            out.append(f"- **{name} on segmentation**: not measured (variants missing from this run).")
            continue
        links = list(zip(chain, chain[1:]))
        verdicts = [verdict(gaps(c, a, b)[-1][1], sd) for a, b in links]
        values = ", ".join(f"{v} {c.miou_at(v, c.last(v)['step']):.2f} %" for v in chain)
        detail = "; ".join(f"{a} − {b}: {v} ({trend(gaps(c, a, b), sd, holds=shown(v), batch=c.batch)})"
                           for (a, b), v in zip(links, verdicts))
        ok = "shown" if all(shown(v) for v in verdicts) else "not shown"
        out.append(f"- **{name} on segmentation: {ok} by our runs.** Final test mIoU {values}. {detail}.")
    return out


def cifar_line(c: Campaign) -> str:
    """The linear-probe ordering on CIFAR-10, for comparison with the earlier tables."""
    have = [v for v in c.variants if v in c.linear]
    if not have:
        return "- CIFAR-10 linear probe: not run yet."
    ranked = sorted(have, key=lambda v: -c.linear[v]["top1"])
    top1 = {v: c.linear[v]["top1"] for v in ranked}
    text = f"{ranked[0]} {100 * top1[ranked[0]]:.2f} %"
    for prev, v in zip(ranked, ranked[1:]):
        text += f" {'=' if top1[v] == top1[prev] else '>'} {v} {100 * top1[v]:.2f} %"
    return f"- CIFAR-10 linear probe at pool5 (one probe fit, no spread measured): {text}."


# ---- the figure and the doc -------------------------------------------------------------------
def plot(c: Campaign, path: Path) -> None:
    """Test mIoU against pre-training images seen, one line per variant; random as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    right = max(r["step"] for r in c.curve) * c.batch or 1
    for v in c.variants:
        if v == "random":
            level, sd = c.miou_at("random", 0), c.spread() or 0.0
            band = " (± 2 std of the probe)" if sd else ""
            ax.axhline(level, color="grey", ls="--", lw=1, label="random init" + band)
            if sd:
                ax.axhspan(level - 2 * sd, level + 2 * sd, color="grey", alpha=0.15)
            continue
        rows = c.points(v)
        ax.plot([r["step"] * c.batch for r in rows], [100 * r["test_miou"] for r in rows], marker="o", label=v)
    ax.set_xlim(0, right * 1.03)
    ax.set_xlabel("pre-training images seen")
    ax.set_ylabel("CamVid test mIoU (%)")
    ax.set_title("Segmentation transfer of AlexNet context encoders", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def block(c: Campaign, figure: Path, doc: Path) -> str:
    link = Path(os.path.relpath(figure, doc.parent)).as_posix()
    parts = [
        setup_text(c), "", "```bash", command(c), "```", "", *main_table(c), "",
        "**Compute per variant** (measured wall time):", "", *compute_table(c), "",
        "**The curve**: CamVid test mIoU (%) against pre-training images seen (every pre-trained variant starts "
        "from the random init, so step 0 is random's probe):", "", *curve_table(c), "",
        f"![transfer curve]({link})", "",
        "**Per-class test IoU (%)** at each variant's last point:", "", *class_table(c), "",
        "**The paper's claims** (Table 2: CE 29.7 %, autoencoder 25.2 %, random 19.8 % mIoU on PASCAL VOC; a gap "
        "counts when it exceeds 2 std of the probe's own spread):", "", *claim_lines(c), cifar_line(c),
    ]
    return "\n".join(parts) + "\n"


def write_block(doc: Path, text: str) -> None:
    """Replace the marked block of ``doc`` (append a section holding it when the doc has none)."""
    old = doc.read_text() if doc.is_file() else "# Feature learning\n"
    start, end = MARKS
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + start + "\n" + text + end + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n" + SECTION + start + "\n" + text + end + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(new)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the campaign folder of scripts/run_features.py")
    p.add_argument("--doc", type=Path, default=REPO / "docs/feature_learning.md", help="markdown file to update")
    p.add_argument("--figure", type=Path, default=REPO / "docs/feature_learning/transfer_curve.png",
                   help="the curve's PNG")
    args = p.parse_args()
    c = Campaign(args.run)
    if not c.variants:
        raise SystemExit(f"{args.run}: no curve point yet (curve.jsonl is empty)")
    plot(c, args.figure)
    text = block(c, args.figure, args.doc)
    write_block(args.doc, text)
    print(text + f"\nwrote {args.figure} and the {MARKS[0]} block of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
