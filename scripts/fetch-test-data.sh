#!/usr/bin/env bash
# Fetches the real DICOM files that crates/imaging/tests/dicom.rs reads:
# pydicom's test data package (pydicom-data 1.0.0, MIT), from PyPI with
# `pip download --no-deps`, unpacked into the MedMetric cache. Idempotent:
# a second run only prints the folder. Prints the data folder on stdout;
# progress goes to stderr.
#
#   export MEDMETRIC_PYDICOM_DATA="$(scripts/fetch-test-data.sh)"
set -euo pipefail

VERSION=1.0.0
CACHE="${MEDMETRIC_CACHE:-$HOME/.cache/medmetric}"
DEST="$CACHE/pydicom-data"
DATA="$DEST/data_store/data"
STAMP="$DEST/.complete-$VERSION"

if [ -f "$STAMP" ] && [ -d "$DATA" ]; then
    echo "$DATA"
    exit 0
fi

if [ -x "$CACHE/venv/bin/pip" ]; then
    PIP=("$CACHE/venv/bin/pip")
    PY="$CACHE/venv/bin/python"
elif [ -x /root/.cache/medmetric/venv/bin/pip ]; then
    PIP=(/root/.cache/medmetric/venv/bin/pip)
    PY=/root/.cache/medmetric/venv/bin/python
else
    PIP=(python3 -m pip)
    PY=python3
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetching pydicom-data==$VERSION into $DEST" >&2
"${PIP[@]}" download --quiet --disable-pip-version-check --no-deps \
    --dest "$TMP" "pydicom-data==$VERSION" >&2
WHEEL="$(ls "$TMP"/pydicom_data-"$VERSION"-*.whl)"

rm -rf "$DEST.partial"
mkdir -p "$DEST.partial"
"$PY" - "$WHEEL" "$DEST.partial" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        if info.filename.startswith("data_store/data/") or info.filename.endswith("LICENSE"):
            z.extract(info, sys.argv[2])
EOF
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
touch "$STAMP"
echo "$DATA"
