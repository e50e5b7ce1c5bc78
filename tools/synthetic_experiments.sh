#!/usr/bin/env bash
# The README's synthetic experiments, from nothing downloaded:
#  1. Table 5a on synthetic actions: Slow-only, Fast-only and SlowFast (tiny presets), same recipe and time
#     budget, trained from scratch, several seeds; each run pinned to its own pair of cores (2-core budget).
#  2. Transfer: the SlowFast of seed 0 (pretrained on classes 0-7) is taught classes 8-15 with --train head
#     from 1, 2, 5 and 10 examples per class, against training from scratch on the same examples.
# Usage: tools/synthetic_experiments.sh OUT MINUTES "SEEDS" FIRST_CORE   (e.g. /tmp/exp 10 "0 1" 0)
# Needs 2 cores per run: 3 archs x seeds runs at once (6 runs: cores FIRST_CORE .. FIRST_CORE+11).
set -euo pipefail
# No taskset (or NO_PIN=1): run unpinned.
if [ "${NO_PIN:-0}" = 1 ] || ! command -v taskset >/dev/null; then taskset() { shift 2; "$@"; }; fi
OUT=${1:-/tmp/slowfast-experiments}; MINUTES=${2:-10}; SEEDS=${3:-"0 1"}; CORE=${4:-0}
PY=${PYTHON:-python3}
CLIPS=${CLIPS:-40}; NEW_CLIPS=${NEW_CLIPS:-10}; SCRATCH_DEVICE=${SCRATCH_DEVICE:-cpu}
SF="$PY -m slowfast_core.cli"
mkdir -p "$OUT"
[ -f "$OUT/data/train.csv" ] || $SF synth "$OUT/data" --classes 8 --clips-per-class $CLIPS --seed 0 &
[ -f "$OUT/new/train.csv" ] || $SF synth "$OUT/new" --classes 8 --offset 8 --clips-per-class $NEW_CLIPS --seed 1 &
wait
export OMP_NUM_THREADS=2
pids=()
for seed in $SEEDS; do
  for arch in slowfast_tiny slow_tiny fast_tiny; do
    taskset -c $CORE,$((CORE + 1)) $SF train "$OUT/data" --arch $arch --from-scratch --minutes "$MINUTES" \
      --seed $seed --out "$OUT/5a/$arch-s$seed" --json > "$OUT/5a-$arch-s$seed.json" 2> "$OUT/5a-$arch-s$seed.log" &
    pids+=($!); CORE=$((CORE + 2))
  done
done
for p in "${pids[@]}"; do wait $p || echo "a run failed: see $OUT/*.log"; done
first=$(echo $SEEDS | cut -d' ' -f1)
base="$OUT/5a/slowfast_tiny-s$first/checkpoint_best.pyth"
for k in 1 2 5 10; do
  [ $k -le $NEW_CLIPS ] && [ "${SKIP_TRANSFER:-0}" != 1 ] || continue
  sub="$OUT/transfer/k$k"; mkdir -p "$sub"
  awk -v k=$k -v d="$OUT/new" '{n[$2]++; if (n[$2] <= k) print d "/" $1, $2}' "$OUT/new/train.csv" > "$sub/train.csv"
  awk -v d="$OUT/new" '{print d "/" $1, $2}' "$OUT/new/val.csv" > "$sub/val.csv"
  cp "$OUT/new/label_map.json" "$sub/"
  $SF train "$sub" --init "$base" --train head --out "$sub/head" --json > "$sub/head.json" 2> "$sub/head.log" || true
  $SF train "$sub" --arch slowfast_tiny --from-scratch --epochs 30 --batch-size 8 --device $SCRATCH_DEVICE \
    --out "$sub/scratch" --json \
    > "$sub/scratch.json" 2> "$sub/scratch.log" || true
done
$PY - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
print("Table 5a (synthetic):")
for f in sorted(out.glob("5a-*.json")):
    try:
        r = json.loads(f.read_text())
        m = [json.loads(l) for l in (pathlib.Path(r["out"]) / "metrics.jsonl").read_text().splitlines()]
        print(f"  {f.stem[3:]:<22} best val top-1 {r['best_top1']:.3f}  epochs {r['epochs']}  "
              f"minutes {sum(x.get('epoch_seconds', x['seconds']) for x in m) / 60:.1f}  clips/s {m[-1]['clips_per_s']:.0f}")
    except Exception as e:
        print(f"  {f.stem}: failed ({e})")
print("Transfer (classes 8-15, val top-1):")
for k in (1, 2, 5, 10):
    row = []
    for mode in ("head", "scratch"):
        try:
            row.append(f"{mode} {json.loads((out / f'transfer/k{k}/{mode}.json').read_text())['best_top1']:.3f}")
        except Exception as e:
            row.append(f"{mode} failed")
    print(f"  {k:>2} per class: " + ", ".join(row))
PY
