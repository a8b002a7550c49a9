#!/usr/bin/env bash
# MedMetric's test command: installs what the tests need, then runs
# formatting, lints, docs and every test. Safe to run again and again.
set -euo pipefail

cd "$(dirname "$0")/.."
CACHE="${MEDMETRIC_CACHE:-$HOME/.cache/medmetric}"
VENV="$CACHE/venv"

step() { printf '\n==> %s\n' "$*"; }

step "Python reference tools (numpy, scikit-learn, Pillow, OpenCV) in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$CACHE"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    fi
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt

step "Real DICOM test data (pydicom-data 1.0.0)"
MEDMETRIC_PYDICOM_DATA="$(scripts/fetch-test-data.sh)"
export MEDMETRIC_PYDICOM_DATA

step "Fresh scikit-learn fixtures for the metrics test"
FIXTURES="$(mktemp -d)"
CLAHE_FIXTURES="$(mktemp -d)"
trap 'rm -rf "$FIXTURES" "$CLAHE_FIXTURES"' EXIT
SEED="${MEDMETRIC_FIXTURE_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
"$VENV/bin/python" scripts/gen_metrics_fixtures.py "$FIXTURES" "$SEED"
export MEDMETRIC_METRICS_FIXTURES="$FIXTURES"

step "Fresh OpenCV CLAHE fixtures for the augmentation tests"
"$VENV/bin/python" scripts/gen_clahe_fixtures.py "$CLAHE_FIXTURES" "$SEED"
export MEDMETRIC_CLAHE_FIXTURES="$CLAHE_FIXTURES"

step "Fresh Kubo CID fixtures for the artifact store tests"
CID_FIXTURES="$(mktemp -d)"
trap 'rm -rf "$FIXTURES" "$CLAHE_FIXTURES" "$CID_FIXTURES"' EXIT
"$VENV/bin/python" scripts/gen_cid_fixtures.py "$CID_FIXTURES" "$SEED"
export MEDMETRIC_CID_FIXTURES="$CID_FIXTURES"

step "ONNX Runtime library for the ort backend (medmetric setup onnxruntime)"
MEDMETRIC_ORT_LIB="$(cargo run --quiet --locked -p medmetric-cli -- setup onnxruntime --cache "$CACHE")"
export MEDMETRIC_ORT_LIB MEDMETRIC_REQUIRE_ORT=1

step "README quick start: medmetric demo from the binary built alone"
# `cargo run -p medmetric-cli` builds only the medmetric binary, as on a
# fresh clone: the demo must evaluate with medmetric running itself as the
# sandboxed worker. (The README says --release; the profile does not change
# what is built, and a second full optimised build would double CI time.)
rm -f target/debug/medmetric-worker
DEMO_OUT="$(mktemp -d)"
cargo run --quiet --locked -p medmetric-cli -- demo --out "$DEMO_OUT/demo"
test -s "$DEMO_OUT/demo/report.html" && test -s "$DEMO_OUT/demo/report.json"
rm -rf "$DEMO_OUT"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test (fixture seed $SEED)"
cargo test --workspace --locked
