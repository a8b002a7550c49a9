#!/usr/bin/env bash
# Round-build throughput: MedMetric (Rust) against the same pipeline in
# Python + OpenCV + NumPy (benches/round_build.py), on the same source pool,
# in the same run. Prints images/s for both and the ratio at 256 and 512.
#
#   benches/round_build.sh [CASES_PER_MODALITY]
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${1:-32}"
PY="${MEDMETRIC_CACHE:-$HOME/.cache/medmetric}/venv/bin/python"
cargo build --release -q -p medmetric-cli
MM=target/release/medmetric
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

# A source pool of 16-bit PNG cases with masks: phantoms at 512, written once.
$MM round build --block "$(printf '11%.0s' {1..32})" --number 1 --size 512 --cases 48 \
    --config <(echo '{"augment_fraction": 0.0, "hybrid_fraction": 0.0, "probes_per_modality": 0}') \
    --out "$T/src" > /dev/null
"$PY" - "$T/src" <<'PYEOF'
import json, sys
root = sys.argv[1]
m = json.load(open(f"{root}/manifest.json"))
cases = [{"id": i["id"], "image": i["image"], "mask": i["mask"],
          "label": "abnormal" if i["abnormal"] else "normal", "modality": i["modality"]}
         for i in m["items"]]
json.dump({"format": "medmetric-pool/1", "name": "bench-src", "cases": cases},
          open(f"{root}/pool.json", "w"))
PYEOF

for SIZE in 256 512; do
    TOTAL=$((CASES * 3))
    CFG='{"probes_per_modality": 0}'
    RUST1=$($MM round build --pool "folder:$T/src" --block "$(printf '22%.0s' {1..32})" \
        --size "$SIZE" --cases "$CASES" --threads 1 --config <(echo "$CFG") --out "$T/rust1-$SIZE" 2>/dev/null)
    RUSTN=$($MM round build --pool "folder:$T/src" --block "$(printf '22%.0s' {1..32})" \
        --size "$SIZE" --cases "$CASES" --config <(echo "$CFG") --out "$T/rustn-$SIZE" 2>/dev/null)
    PYRES=$("$PY" benches/round_build.py "$T/src" "$T/py-$SIZE" --size "$SIZE" --cases "$TOTAL")
    "$PY" - "$SIZE" "$RUST1" "$RUSTN" "$PYRES" <<'PYEOF'
import json, sys
size, r1, rn, py = sys.argv[1], *(json.loads(a) for a in sys.argv[2:])
print(f"{size}x{size}: rust 1 thread {r1['images_per_second']:.1f} img/s, "
      f"rust all cores {rn['images_per_second']:.1f} img/s, "
      f"python+opencv {py['images_per_second']:.1f} img/s; "
      f"ratio {r1['images_per_second'] / py['images_per_second']:.2f}x (1 thread), "
      f"{rn['images_per_second'] / py['images_per_second']:.2f}x (all cores)")
PYEOF
done
