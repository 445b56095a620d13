"""Feature learning by inpainting on CIFAR-10 (the paper's Sec. 5.2 / Table 2, scaled to 2 CPU cores).

Pre-trains the same 32 px center-net encoder without labels on CIFAR-10 ``train`` under five
regimes, with the same steps and batch size for each, for every seed:

    random       no pre-training (DCGAN init from the seed)
    autoencoder  whole-image reconstruction, no hole
    center       context encoder, center hole (the generator outputs the 16×16 center)
    block        context encoder, random blocks (whole-image output)
    region       context encoder, random regions (whole-image output)

then fits a linear probe (frozen features, logistic regression) on a labelled subset of ``train``
and reports top-1 on ``test``, plus the share of same-class images among each test image's 5
nearest training images in feature space. Prints a table, writes results.json / results.md and a
nearest-neighbour figure, and fills the results block of docs/feature_learning.md.

Resumable: each pre-training run lives in WORK_DIR/runs/<variant>-s<seed>-<hash of its settings>
(finished runs are skipped, interrupted ones resume from their last checkpoint) and each probe
result in WORK_DIR/results/, so the experiment can be run in pieces (e.g. ``--seeds 0`` first).

    python benchmarks/feature_learning.py                      # the full experiment (~60 min)
    python benchmarks/feature_learning.py --steps 20 --seeds 0 --pretrain-images 2000 \\
        --probe-per-class 100 --test-per-class 50 --out-dir /tmp/fl --doc ''   # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import shutil
import statistics
import tarfile
import time
from pathlib import Path

import numpy as np
import torch

from context_encoder.checkpoint import find_checkpoint, load_generator, load_training_state
from context_encoder.config import ModelConfig, train_config_from_dict
from context_encoder.representation.features import extract, nearest_neighbours, random_generator
from context_encoder.representation.probe import LabelledImages, linear_probe, load_labelled
from context_encoder.training.loop import train

REPO = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, dict | None] = {
    "random": None,
    "autoencoder": {"model": {"arch": "autoencoder"}},
    "center": {"model": {"arch": "center"}, "mask": {"kind": "center"}},
    "block": {"model": {"arch": "center"}, "mask": {"kind": "block"}},
    "region": {"model": {"arch": "center"}, "mask": {"kind": "region"}},
}
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"
K = 5


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--archive", type=Path, default=REPO.parent / "shared/data/cifar10.tar.gz",
                   help="cifar10.tar.gz holding cifar10/{train,test}/<class>/*.jpg")
    p.add_argument("--work-dir", type=Path, default=Path.home() / ".cache/context-encoder/feature-learning",
                   help="extracted data, pre-training runs and cached probe results (outside the repo)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ",".join(VARIANTS))
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (init, data order, masks)")
    p.add_argument("--steps", type=int, default=800, help="pre-training steps per run (same for every variant)")
    p.add_argument("--batch-size", type=int, default=64, help="pre-training batch size")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine schedule)")
    p.add_argument("--nef", type=int, default=32, help="encoder width (features: 8·nef × 4 × 4)")
    p.add_argument("--ngf", type=int, default=32, help="decoder width")
    p.add_argument("--bottleneck", type=int, default=512, help="bottleneck channels")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes while pre-training")
    p.add_argument("--pretrain-images", type=int, default=0, help="seeded subset of train for pre-training (0 = all)")
    p.add_argument("--probe-per-class", type=int, default=1000, help="labelled train images per class for the probe")
    p.add_argument("--test-per-class", type=int, default=0, help="test images per class (0 = all 1000)")
    p.add_argument("--layer", default="encoder", choices=("encoder", "bottleneck"), help="probed layer")
    p.add_argument("--pool", type=int, default=2, help="average the 4×4 map to k×k before the probe")
    p.add_argument("--nn-queries", type=int, default=8, help="query images in the nearest-neighbour figure")
    p.add_argument("--nn-variants", default="center,random", help="the two variants the figure compares")
    p.add_argument("--out-dir", type=Path, default=REPO / "docs/feature_learning",
                   help="where results.json, results.md and the figure go")
    p.add_argument("--doc", default=str(REPO / "docs/feature_learning.md"),
                   help=f"markdown file whose {MARK_START} block is replaced ('' = none)")
    return p.parse_args()


def digest(obj: object) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:8]


def prepare_cifar(archive: Path, work_dir: Path) -> Path:
    """Extract the archive once into WORK_DIR/cifar10 (atomic: a half extraction is never used)."""
    root = work_dir / "cifar10"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root
    if not archive.is_file():
        raise SystemExit(f"CIFAR-10 archive not found: {archive} (see --archive)")
    tmp = work_dir / ".extracting"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    print(f"extracting {archive} -> {root}", flush=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    (tmp / "cifar10").rename(root)
    tmp.rmdir()
    return root


def pretrain_folder(root: Path, work_dir: Path, n: int) -> Path:
    """The unlabelled pre-training images: all of train, or a seeded subset as symlinks."""
    files = sorted((root / "train").rglob("*.jpg"))
    if n <= 0 or n >= len(files):
        return root / "train"
    folder = work_dir / f"pretrain-{n}"
    if not folder.is_dir():
        tmp = work_dir / f".pretrain-{n}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for i in torch.randperm(len(files), generator=torch.Generator().manual_seed(0))[:n].tolist():
            (tmp / f"{files[i].parent.name}_{files[i].name}").symlink_to(files[i])
        tmp.rename(folder)
    return folder


def model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(arch="center", image_size=32, nef=args.nef, ngf=args.ngf, bottleneck=args.bottleneck)


def pretrain_values(args: argparse.Namespace, variant: str, seed: int, data: Path) -> dict:
    """The TrainConfig (as a dict, without ``out``) of one pre-training run."""
    m = model_config(args)
    values = {
        "model": {"image_size": 32, "nef": m.nef, "ngf": m.ngf, "bottleneck": m.bottleneck},
        "data": {"data": [str(data)], "load_size": 32, "workers": args.workers},
        "loss": {"kind": "l2"}, "optim": {"lr_g": args.lr, "lr_schedule": "cosine"},
        "batch_size": args.batch_size, "steps": args.steps, "seed": seed, "device": "cpu",
        "log_every": 50, "sample_every": args.steps, "ckpt_every": max(50, args.steps // 8),
    }
    for section, extra in (VARIANTS[variant] or {}).items():
        values[section] = {**values.get(section, {}), **extra}
    return values


def finished_step(run_dir: Path) -> int:
    try:
        return int(load_training_state(find_checkpoint(run_dir).parent)["step"])
    except (ValueError, OSError):
        return 0


def pretrain(args: argparse.Namespace, variant: str, seed: int, data: Path) -> tuple[str, Path | None]:
    """Run (or resume, or skip) one pre-training; returns (run name, run dir or None for random)."""
    if VARIANTS[variant] is None:
        return f"{variant}-s{seed}-{digest(dataclasses.asdict(model_config(args)))}", None
    values = pretrain_values(args, variant, seed, data)
    bookkeeping = ("log_every", "sample_every", "ckpt_every")  # do not change the model: not in the name
    semantic = {k: v for k, v in values.items() if k not in bookkeeping}
    name = f"{variant}-s{seed}-{digest({**semantic, 'data': {**values['data'], 'workers': None}})}"
    run_dir = args.work_dir / "runs" / name
    done = finished_step(run_dir)
    if done >= args.steps:
        return name, run_dir
    print(f"\n== pre-training {name} ({'resuming at step ' + str(done) if done else 'from scratch'})", flush=True)
    t0 = time.perf_counter()
    train(train_config_from_dict({**values, "out": str(run_dir)}), resume=done > 0,
          overwrite=done == 0 and run_dir.exists())
    seconds = time.perf_counter() - t0
    timing = run_dir / "timing.json"
    prev = json.loads(timing.read_text())["seconds"] if timing.is_file() else 0.0
    timing.write_text(json.dumps({"seconds": prev + seconds}))
    return name, run_dir


def run_stats(run_dir: Path | None, batch_size: int) -> dict:
    """Final reconstruction loss and the median training speed from a run's metrics.jsonl."""
    if run_dir is None:
        return {}
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    timing = run_dir / "timing.json"
    return {"final_loss_rec": rows[-1]["loss_rec"],
            "steps_per_s": statistics.median(r["img_per_s"] for r in rows) / batch_size,
            "pretrain_seconds": json.loads(timing.read_text())["seconds"] if timing.is_file() else None}


@functools.cache
def probe_sets(root: Path, per_class: int, test_per_class: int) -> tuple[LabelledImages, LabelledImages]:
    """The labelled probe sets (seeded subsets), decoded once and shared by every model."""
    print("decoding the probe images", flush=True)
    train_set = load_labelled(root / "train", image_size=32, per_class=per_class, seed=0)
    test_set = load_labelled(root / "test", image_size=32, per_class=test_per_class, seed=0, classes=train_set.classes)
    return train_set, test_set


def figure_queries(test: LabelledImages, n: int) -> list[int]:
    """Fixed test indices for the figure: one seeded pick from each of the first ``n`` classes."""
    g = torch.Generator().manual_seed(0)
    by_class = [torch.nonzero(test.labels == c).flatten() for c in range(len(test.classes))]
    return [int(ix[torch.randint(len(ix), (), generator=g)]) for ix in by_class][:n]


def probe(args: argparse.Namespace, variant: str, seed: int, name: str, run_dir: Path | None, root: Path) -> dict:
    """The cached probe result of one model, computing it when missing."""
    settings = {"layer": args.layer, "pool": args.pool, "per_class": args.probe_per_class,
                "test_per_class": args.test_per_class, "nn_queries": args.nn_queries}
    cache = args.work_dir / "results" / f"{name}-{digest(settings)}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    train_set, test_set = probe_sets(root, args.probe_per_class, args.test_per_class)
    gen = random_generator(model_config(args), seed) if run_dir is None else load_generator(run_dir, "cpu")[0]
    kw = {"layer": args.layer, "pool": args.pool, "batch_size": 500}
    t0 = time.perf_counter()
    train_x, test_x = extract(gen, train_set.images, **kw), extract(gen, test_set.images, **kw)
    result = linear_probe(train_x, train_set.labels, test_x, test_set.labels, seed=0)
    nn = nearest_neighbours(test_x, train_x, K)  # (n_test, K)
    queries = figure_queries(test_set, args.nn_queries)
    record = {"variant": variant, "seed": seed, "name": name, **settings, **result,
              "knn_precision": (train_set.labels[nn] == test_set.labels[:, None]).float().mean().item(),
              "feature_dim": train_x.shape[1], "n_train": len(train_set.files), "n_test": len(test_set.files),
              "probe_seconds": time.perf_counter() - t0, **run_stats(run_dir, args.batch_size),
              "nn_queries": [str(test_set.files[q]) for q in queries],
              "nn_neighbours": [[str(train_set.files[j]) for j in nn[q].tolist()] for q in queries]}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(record, indent=1))
    print(f"{name}: linear top-1 {100 * record['top1']:.2f} %, {K}-NN precision "
          f"{100 * record['knn_precision']:.2f} %", flush=True)
    return record


def summarise(records: list[dict], variants: list[str]) -> list[dict]:
    rows = []
    for v in variants:
        rs = [r for r in records if r["variant"] == v]
        row = {"variant": v, "seeds": [r["seed"] for r in rs]}
        for key in ("top1", "knn_precision", "final_loss_rec", "steps_per_s"):
            vals = [r[key] for r in rs if r.get(key) is not None]
            if vals:
                row[key] = statistics.mean(vals)
                row[key + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        rows.append(row)
    return rows


def ordering_checks(rows: list[dict]) -> list[str]:
    """The paper's claims, each judged against the seed spread (a gap within 2 std is a tie)."""
    by = {r["variant"]: r for r in rows}
    claims = [("center", "autoencoder"), ("center", "random"), ("region", "autoencoder"), ("region", "random"),
              ("region", "block"), ("block", "center")]
    lines = []
    for a, b in claims:
        if a not in by or b not in by:
            continue
        gap = 100 * (by[a]["top1"] - by[b]["top1"])
        if min(len(by[a]["seeds"]), len(by[b]["seeds"])) < 2:
            lines.append(f"- {a} ≥ {b}: {gap:+.2f} points (one seed: no spread to judge it against)")
            continue
        noise = 100 * 2 * max(by[a]["top1_std"], by[b]["top1_std"])
        verdict = "holds" if gap > noise else ("reversed" if gap < -noise else "tie (within 2 std)")
        lines.append(f"- {a} ≥ {b}: {gap:+.2f} points → {verdict}")
    return lines


def _cell(row: dict, key: str, scale: float = 100.0, fmt: str = ".2f") -> str:
    if key not in row:
        return "–"
    spread = f" ± {scale * row[key + '_std']:{fmt}}" if len(row["seeds"]) > 1 else ""
    return f"{scale * row[key]:{fmt}}{spread}"


def markdown(rows: list[dict], args: argparse.Namespace, records: list[dict], figure: Path | None) -> str:
    r0 = records[0]
    lines = [f"Linear probe on `{args.layer}` features (pool {args.pool}×{args.pool} → {r0['feature_dim']} dims), "
             f"{r0['n_train']} labelled train images, {r0['n_test']} test images; pre-training {args.steps} steps × "
             f"batch {args.batch_size} (L2 loss, Adam {args.lr:g}, cosine), bottleneck {args.bottleneck}, "
             f"nef {args.nef}. Mean ± std over seeds.", "",
             "| pre-training | seeds | linear top-1 (%) | 5-NN same class (%) | final L2 | steps/s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['variant']} | {len(r['seeds'])} | {_cell(r, 'top1')} | {_cell(r, 'knn_precision')} | "
                     f"{_cell(r, 'final_loss_rec', 1.0, '.4f')} | {_cell(r, 'steps_per_s', 1.0, '.2f')} |")
    minutes = sum((r.get("pretrain_seconds") or 0) + r["probe_seconds"] for r in records) / 60
    lines += ["", f"Compute: {minutes:.1f} min of pre-training + probing in all (2-core CPU, as measured).", "",
              "Paper's ordering, judged against the seed spread (a gap under 2 std is a tie):",
              *ordering_checks(rows)]
    if figure is not None:
        lines += ["", f"![nearest neighbours](feature_learning/{figure.name})"]
    return "\n".join(lines) + "\n"


def nn_figure(records: list[dict], variants: list[str], path: Path) -> Path | None:
    """Rows of: query | its 5 nearest training images for variant A | the same for variant B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    picked = [next((r for r in records if r["variant"] == v), None) for v in variants]
    if any(r is None for r in picked):
        return None
    queries = picked[0]["nn_queries"]
    cols = (K + 1) * len(picked) + 1  # query, then per variant a spacer and K neighbours
    fig, axes = plt.subplots(len(queries), cols, figsize=(cols * 0.9, len(queries) * 0.95 + 0.5),
                             gridspec_kw={"width_ratios": [1] + ([0.25] + [1] * K) * len(picked)})
    axes = np.atleast_2d(axes)
    for i, q in enumerate(queries):
        cells: list[tuple[str, str] | None] = [(q, "black")]
        for r in picked:
            cells += [None] + [(n, "tab:green" if Path(n).parent.name == Path(q).parent.name else "tab:red")
                               for n in r["nn_neighbours"][i]]
        for ax, cell in zip(axes[i], cells):
            if cell is None:
                ax.axis("off")
                continue
            ax.imshow(np.asarray(Image.open(cell[0]).convert("RGB")))
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color(cell[1])
                spine.set_linewidth(1 if cell[1] == "black" else 2.5)
    axes[0, 0].set_title("query", fontsize=8)
    for k, r in enumerate(picked):
        axes[0, 2 + k * (K + 1) + K // 2].set_title(f"{r['variant']} (seed {r['seed']}): {K} nearest", fontsize=8)
    fig.suptitle("Nearest training images in encoder feature space (green = same class)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(args: argparse.Namespace, records: list[dict], variants: list[str]) -> None:
    rows = summarise(records, variants)
    nn_pair = args.nn_variants.split(",")
    figure = nn_figure(records, nn_pair, args.out_dir / f"nn_{'_vs_'.join(nn_pair)}.png")
    text = markdown(rows, args, records, figure)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.md").write_text(text)
    slim = [{k: v for k, v in r.items() if not k.startswith("nn_")} for r in records]
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (args.out_dir / "results.json").write_text(json.dumps({"settings": settings, "summary": rows, "runs": slim},
                                                          indent=1))
    print("\n" + text)
    doc = Path(args.doc) if args.doc else None
    if doc is not None and doc.is_file():
        old = doc.read_text()
        if MARK_START in old and MARK_END in old:
            head, rest = old.split(MARK_START, 1)
            doc.write_text(head + MARK_START + "\n" + text + MARK_END + rest.split(MARK_END, 1)[1])
            print(f"updated the results block of {doc}")


def main() -> None:
    args = parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    root = prepare_cifar(args.archive, args.work_dir)
    data = pretrain_folder(root, args.work_dir, args.pretrain_images)
    records = []
    t0 = time.perf_counter()
    for seed in seeds:
        for variant in variants:
            name, run_dir = pretrain(args, variant, seed, data)
            records.append(probe(args, variant, seed, name, run_dir, root))
    print(f"\nexperiment wall time this invocation: {(time.perf_counter() - t0) / 60:.1f} min")
    write_outputs(args, records, variants)


if __name__ == "__main__":
    main()
