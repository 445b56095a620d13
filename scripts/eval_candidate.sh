#!/usr/bin/env bash
# Issue 23: a candidate net on every protocol of docs/results.md, beside the shipped default, both
# sets: the 40-photo `photos` tables (held-out masks of 10-50 %), boxes drawn on the same photos,
# the `masks` protocol and the center protocols (full 64x64 hole and inner 56x56). Prints one
# line per report: protocol, set, then each model row's PSNR.
#   bash scripts/eval_candidate.sh CHECKPOINT NAME [--onion PX]
# CHECKPOINT: a run's step folder (runs/X/snapshots/paste/checkpoints/step_N) or weights file.
# Reports go to runs/eval/NAME-*; masks from scripts/split_masks.py (runs/masks) and
# scripts/rect_masks.py (runs/rect, written if missing).
set -euo pipefail
ckpt=$1 name=$2; shift 2
data=${CE_DATA_DIR:-../shared/data}
[ -d runs/rect ] || python scripts/rect_masks.py runs/rect
for set in bsd100 camvid/test; do
    tag=${set//\//-}
    common=(--data "$data/$set" --methods model --checkpoint pretrained --checkpoint "$ckpt" --examples 0 "$@")
    context-encoder evaluate "${common[@]}" --protocol photos --mask-dir runs/masks/heldout --hole-share 10-50 \
        --limit 40 --report "runs/eval/$name-$tag-photos"
    context-encoder evaluate "${common[@]}" --protocol photos --mask-dir runs/rect --hole-share 10-50 \
        --limit 40 --report "runs/eval/$name-$tag-boxes"
    context-encoder evaluate "${common[@]}" --protocol masks --mask-dir "$data/irregular-masks" \
        --report "runs/eval/$name-$tag-masks"
    context-encoder evaluate "${common[@]}" --overlap 0 --report "runs/eval/$name-$tag-full"
    context-encoder evaluate "${common[@]}" --overlap model --report "runs/eval/$name-$tag-inner"
done
