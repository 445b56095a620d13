"""Feature learning by inpainting on CIFAR-10 (the paper's Sec. 5.2 / Table 2, scaled to 2 CPU cores).

Pre-trains an encoder without labels on CIFAR-10 ``train`` under several regimes, with the same
steps and batch size for each, for every seed:

    random       no pre-training (DCGAN init from the seed)
    autoencoder  whole-image reconstruction, no hole
    center       context encoder, center hole (the center net outputs the 16×16 center)
    block        context encoder, random blocks (whole-image output)
    region       context encoder, random regions (whole-image output)

``--arch center`` (the default) is the three-layer center net at 32 px; ``--arch alexnet`` is the
paper's net (AlexNet conv1–pool5 + the channel-wise fully-connected layer) on the 32 px images
upsampled to the smallest size whose pool5 map is 3×3 (127 px), probed on pool5.

Then fits a linear probe (frozen features, logistic regression) on a labelled subset of ``train``
and reports top-1 on ``test``, plus the share of same-class images among each test image's 5
nearest training images in feature space. Prints a table, writes results.json / results.md
(results_alexnet.* for alexnet) and a nearest-neighbour figure, and fills the arch's results
block of docs/feature_learning.md.

Resumable: each pre-training run lives in WORK_DIR/runs/<variant>-s<seed>-<hash of its settings>
(``alexnet-<variant>-…`` for alexnet; finished runs are skipped, interrupted ones resume from their
last checkpoint) and each probe result in WORK_DIR/results/, so the experiment can be run in pieces
(e.g. ``--seeds 0`` first).

    python benchmarks/feature_learning.py                      # the full experiment (~60 min)
    python benchmarks/feature_learning.py --steps 20 --seeds 0 --pretrain-images 2000 \\
        --probe-per-class 100 --test-per-class 50 --out-dir /tmp/fl --doc ''   # a smoke run
    OMP_NUM_THREADS=1 python benchmarks/feature_learning.py --arch alexnet   # the paper's net (~40 min)
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
from context_encoder.config import MAX_IMAGE_SIZE, ModelConfig, train_config_from_dict
from context_encoder.models.alexnet import pool5_size
from context_encoder.representation.features import LAYERS, extract, nearest_neighbours, random_generator
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
# The alexnet net always outputs the whole image; its autoencoder hides nothing (--mask none).
ALEXNET_VARIANTS: dict[str, dict | None] = {
    "random": None,
    "autoencoder": {"mask": {"kind": "none"}},
    "center": {"mask": {"kind": "center"}},
    "block": {"mask": {"kind": "block"}},
    "region": {"mask": {"kind": "region"}},
}
ARCH_VARIANTS = {"center": VARIANTS, "alexnet": ALEXNET_VARIANTS}
MARKS = {"center": ("<!-- results:start -->", "<!-- results:end -->"),
         "alexnet": ("<!-- results-alexnet:start -->", "<!-- results-alexnet:end -->")}
# Per-arch defaults of the flags left unset (None). alexnet: sized for ~40 min on a 2-core CPU (measured
# 0.68 steps/s at batch 32 and ~60 probe images/s, one thread): 4 runs × 300 steps + 6 probes × 3000 images.
ARCH_DEFAULTS: dict[str, dict[str, object]] = {
    "center": {"variants": ",".join(VARIANTS), "steps": 800, "batch_size": 64, "pretrain_images": 0,
               "probe_per_class": 1000, "test_per_class": 0, "layer": "encoder", "pool": 2,
               "nn_variants": "center,random"},
    "alexnet": {"variants": "random,autoencoder,region", "steps": 300, "batch_size": 32, "pretrain_images": 10000,
                "probe_per_class": 200, "test_per_class": 100, "layer": "pool5", "pool": 0,
                "nn_variants": "region,random"},
}
K = 5


def alexnet_size(min_pool5: int = 3) -> int:
    """The smallest input side the config accepts for alexnet (>= 96) whose pool5 map is at least
    ``min_pool5`` × ``min_pool5``: 127 px for 3×3."""
    return next(s for s in range(96, MAX_IMAGE_SIZE + 1) if pool5_size(s) >= min_pool5)


def _arch_flag(p: argparse.ArgumentParser, flag: str, text: str, **kw: object) -> None:
    """A flag whose default depends on --arch (ARCH_DEFAULTS): absent from the namespace when unset."""
    d = {arch: ARCH_DEFAULTS[arch][flag.lstrip("-").replace("-", "_")] for arch in ARCH_DEFAULTS}
    p.add_argument(flag, default=argparse.SUPPRESS, **kw,
                   help=f"{text} (default: {d['center']} for center, {d['alexnet']} for alexnet)")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arch", default="center", choices=tuple(ARCH_VARIANTS),
                   help=f"center: the three-layer center net at 32 px; alexnet: the paper's net at {alexnet_size()} px")
    p.add_argument("--archive", type=Path, default=REPO.parent / "shared/data/cifar10.tar.gz",
                   help="cifar10.tar.gz holding cifar10/{train,test}/<class>/*.jpg")
    p.add_argument("--work-dir", type=Path, default=Path.home() / ".cache/context-encoder/feature-learning",
                   help="extracted data, pre-training runs and cached probe results (outside the repo)")
    _arch_flag(p, "--variants", "comma-separated subset of " + ",".join(VARIANTS))
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (init, data order, masks)")
    _arch_flag(p, "--steps", "pre-training steps per run (same for every variant)", type=int)
    _arch_flag(p, "--batch-size", "pre-training batch size", type=int)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine schedule)")
    p.add_argument("--nef", type=int, default=32, help="center net: encoder width (features: 8·nef × 4 × 4)")
    p.add_argument("--ngf", type=int, default=32, help="center net: decoder width")
    p.add_argument("--bottleneck", type=int, default=512, help="center net: bottleneck channels")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes while pre-training")
    _arch_flag(p, "--pretrain-images", "seeded subset of train for pre-training (0 = all)", type=int)
    _arch_flag(p, "--probe-per-class", "labelled train images per class for the probe", type=int)
    _arch_flag(p, "--test-per-class", "test images per class (0 = all 1000)", type=int)
    _arch_flag(p, "--layer", "probed layer (center: encoder | bottleneck; alexnet: pool5 | conv5)",
               choices=sorted({n for names in LAYERS.values() for n in names}))
    _arch_flag(p, "--pool", "average the feature map to k×k before the probe (0 = not pooled)", type=int)
    p.add_argument("--nn-queries", type=int, default=8, help="query images in the nearest-neighbour figure")
    _arch_flag(p, "--nn-variants", "the two variants the figure compares")
    p.add_argument("--out-dir", type=Path, default=REPO / "docs/feature_learning",
                   help="where results.json (results_alexnet.json for alexnet), results.md and the figure go")
    p.add_argument("--doc", default=str(REPO / "docs/feature_learning.md"),
                   help="markdown file whose results block (results-alexnet for alexnet) is replaced ('' = none)")
    args = p.parse_args()
    for key, value in ARCH_DEFAULTS[args.arch].items():  # flags left unset (SUPPRESS: absent) take the arch's
        if not hasattr(args, key):
            setattr(args, key, value)
    if args.layer not in LAYERS[args.arch]:
        p.error(f"--layer {args.layer} is not a layer of --arch {args.arch}: choose from {LAYERS[args.arch]}")
    return args


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


def image_size(args: argparse.Namespace) -> int:
    """The model's input side: CIFAR-10's own 32 px for the center net, upsampled for alexnet."""
    return 32 if args.arch == "center" else alexnet_size()


def model_config(args: argparse.Namespace) -> ModelConfig:
    if args.arch == "alexnet":  # fixed AlexNet widths: nef, ngf and bottleneck do not apply
        return ModelConfig(arch="alexnet", image_size=image_size(args))
    return ModelConfig(arch="center", image_size=32, nef=args.nef, ngf=args.ngf, bottleneck=args.bottleneck)


def pretrain_values(args: argparse.Namespace, variant: str, seed: int, data: Path) -> dict:
    """The TrainConfig (as a dict, without ``out``) of one pre-training run."""
    m = model_config(args)
    model = {"image_size": 32, "nef": m.nef, "ngf": m.ngf, "bottleneck": m.bottleneck}
    if args.arch == "alexnet":
        model = {"arch": "alexnet", "image_size": m.image_size}
    values = {
        "model": model,
        # A shorter side of load_size = image_size: CIFAR's 32 px squares resized (bicubic) to the model size.
        "data": {"data": [str(data)], "load_size": m.image_size, "workers": args.workers},
        "loss": {"kind": "l2"}, "optim": {"lr_g": args.lr, "lr_schedule": "cosine"},
        "batch_size": args.batch_size, "steps": args.steps, "seed": seed, "device": "cpu",
        "log_every": 50 if args.arch == "center" else 10, "sample_every": args.steps,
        "ckpt_every": max(50, args.steps // 8),
    }
    for section, extra in (ARCH_VARIANTS[args.arch][variant] or {}).items():
        values[section] = {**values.get(section, {}), **extra}
    return values


def finished_step(run_dir: Path) -> int:
    try:
        return int(load_training_state(find_checkpoint(run_dir).parent)["step"])
    except (ValueError, OSError):
        return 0


def run_name(args: argparse.Namespace, variant: str, seed: int, values: dict | None) -> str:
    """<variant>-s<seed>-<hash> (alexnet-<variant>-… for alexnet): a hash of everything that
    changes the model, so runs of different settings or archs never share a directory."""
    prefix = "" if args.arch == "center" else f"{args.arch}-"
    if values is None:
        return f"{prefix}{variant}-s{seed}-{digest(dataclasses.asdict(model_config(args)))}"
    bookkeeping = ("log_every", "sample_every", "ckpt_every")  # do not change the model: not in the name
    semantic = {k: v for k, v in values.items() if k not in bookkeeping}
    semantic["data"] = {**values["data"], "workers": None}
    return f"{prefix}{variant}-s{seed}-{digest(semantic)}"


def pretrain(args: argparse.Namespace, variant: str, seed: int, data: Path) -> tuple[str, Path | None]:
    """Run (or resume, or skip) one pre-training; returns (run name, run dir or None for random)."""
    if ARCH_VARIANTS[args.arch][variant] is None:
        return run_name(args, variant, seed, None), None
    values = pretrain_values(args, variant, seed, data)
    name = run_name(args, variant, seed, values)
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
def probe_sets(root: Path, per_class: int, test_per_class: int, size: int) -> tuple[LabelledImages, LabelledImages]:
    """The labelled probe sets (seeded subsets) at ``size`` px (CIFAR's 32 px squares resized with
    Pillow bicubic, as pre-training loads them), decoded once and shared by every model."""
    print(f"decoding the probe images at {size} px", flush=True)
    train_set = load_labelled(root / "train", image_size=size, per_class=per_class, seed=0)
    test_set = load_labelled(root / "test", image_size=size, per_class=test_per_class, seed=0,
                             classes=train_set.classes)
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
    train_set, test_set = probe_sets(root, args.probe_per_class, args.test_per_class, image_size(args))
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


def setup_line(args: argparse.Namespace, r0: dict) -> str:
    """The sentence above the table: what was probed, on how many images, after what pre-training."""
    pooled = f"pool {args.pool}×{args.pool}" if args.pool > 0 else "not pooled"
    head = f"Linear probe on `{args.layer}` features ({pooled} → {r0['feature_dim']} dims)"
    probe_data = f"{r0['n_train']} labelled train images, {r0['n_test']} test images"
    budget = f"{args.steps} steps × batch {args.batch_size} (L2 loss, Adam {args.lr:g}, cosine)"
    if args.arch == "center":
        return (f"{head}, {probe_data}; pre-training {budget}, bottleneck {args.bottleneck}, nef {args.nef}. "
                "Mean ± std over seeds.")
    side = image_size(args)
    images = f"{args.pretrain_images} unlabelled train images" if args.pretrain_images else "all 50000 train images"
    no_hole_note = "; the autoencoder hides nothing and weighs every pixel" if "autoencoder" in args.variants else ""
    return (f"{head} of AlexNet conv1–pool5 + channel-wise FC at {side} px (CIFAR-10's 32 px upsampled, bicubic; "
            f"pool5 256 × {pool5_size(side)} × {pool5_size(side)}), {probe_data}; pre-training {budget} on "
            f"{images}{no_hole_note}. Mean ± std over seeds.")


def markdown(rows: list[dict], args: argparse.Namespace, records: list[dict], figure: Path | None) -> str:
    lines = [setup_line(args, records[0]), "",
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


def nn_figure(records: list[dict], variants: list[str], path: Path, layer: str) -> Path | None:
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
    fig.suptitle(f"Nearest training images in {layer} feature space (green = same class)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(args: argparse.Namespace, records: list[dict], variants: list[str]) -> None:
    """results.{md,json} (results_alexnet.* for alexnet), the figure, and the arch's block of ``--doc``."""
    rows = summarise(records, variants)
    suffix, prefix = ("", "") if args.arch == "center" else (f"_{args.arch}", f"{args.arch}_")
    nn_pair = args.nn_variants.split(",")
    figure = nn_figure(records, nn_pair, args.out_dir / f"nn_{prefix}{'_vs_'.join(nn_pair)}.png", args.layer)
    text = markdown(rows, args, records, figure)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"results{suffix}.md").write_text(text)
    slim = [{k: v for k, v in r.items() if not k.startswith("nn_")} for r in records]
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    (args.out_dir / f"results{suffix}.json").write_text(
        json.dumps({"settings": settings, "summary": rows, "runs": slim}, indent=1))
    print("\n" + text)
    doc = Path(args.doc) if args.doc else None
    start, end = MARKS[args.arch]
    if doc is not None and doc.is_file():
        old = doc.read_text()
        if start in old and end in old:
            head, rest = old.split(start, 1)
            doc.write_text(head + start + "\n" + text + end + rest.split(end, 1)[1])
            print(f"updated the {start} block of {doc}")


def main() -> None:
    args = parse_args()
    variants = [v for v in args.variants.split(",") if v]
    known = ARCH_VARIANTS[args.arch]
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {list(known)}")
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
