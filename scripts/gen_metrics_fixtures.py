#!/usr/bin/env python3
"""Reference values for `medmetric metrics`, computed with scikit-learn.

Writes random prediction/truth PNG pairs and `expected.json` into OUT_DIR.
The Rust test `crates/cli/tests/metrics_sklearn.rs` runs the CLI on every pair
and compares. Cases cover 1x1 images, empty and full masks, 8- and 16-bit
predictions, probabilities exactly at the 0.5 threshold and truth masks with
arbitrary non-zero values.

Usage: gen_metrics_fixtures.py OUT_DIR [SEED]
"""
import json
import os
import sys

import warnings

import numpy as np
from PIL import Image
from sklearn.metrics import (f1_score, jaccard_score, matthews_corrcoef,
                             precision_score, recall_score)

P_CLAMP = 1e-7

# single-class masks are expected here; sklearn warns about them
warnings.filterwarnings("ignore")


def reference(prob, truth):
    t = (truth != 0).ravel()
    p = prob.ravel()
    pred = p >= 0.5
    both_empty = not t.any() and not pred.any()
    kw = dict(y_true=t, y_pred=pred, labels=[False, True], pos_label=True)
    if both_empty:
        dice = iou = precision = recall = 1.0
    else:
        dice = f1_score(**kw, zero_division=0.0)
        iou = jaccard_score(**kw, zero_division=0.0)
        precision = precision_score(**kw, zero_division=0.0)
        recall = recall_score(**kw, zero_division=0.0)
    mcc = matthews_corrcoef(t, pred)
    pc = np.clip(p, P_CLAMP, 1.0 - P_CLAMP)
    bce = float(np.mean(-(t * np.log(pc) + (~t) * np.log(1.0 - pc))))
    return dict(dice=float(dice), iou=float(iou), bce=bce, mcc=float(mcc),
                precision=float(precision), recall=float(recall))


def save(path, arr, bits):
    if bits == 16:
        Image.fromarray(arr.astype(np.uint16)).save(path)
    else:
        Image.fromarray(arr.astype(np.uint8), mode="L").save(path)


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20261122
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    cases = []
    shapes = [(1, 1), (1, 1), (1, 7), (5, 1), (3, 3), (16, 16), (17, 23), (64, 64), (48, 40)]
    kinds = ["random", "empty_both", "empty_truth", "empty_pred", "full_both", "full_truth",
             "threshold_edge", "blob"]
    i = 0
    for shape in shapes:
        for kind in kinds:
            for bits in (8, 16):
                h, w = shape
                vmax = 255 if bits == 8 else 65535
                pred = rng.integers(0, vmax + 1, size=shape)
                truth = (rng.random(shape) < rng.random()).astype(np.int64)
                if kind == "empty_both":
                    pred = rng.integers(0, vmax // 2, size=shape)
                    truth[:] = 0
                elif kind == "empty_truth":
                    truth[:] = 0
                elif kind == "empty_pred":
                    pred = rng.integers(0, vmax // 2, size=shape)
                elif kind == "full_both":
                    pred = rng.integers(vmax // 2 + 1, vmax + 1, size=shape)
                    truth[:] = 1
                elif kind == "full_truth":
                    truth[:] = 1
                elif kind == "threshold_edge":
                    # values straddling p = 0.5 exactly where representable
                    lo, hi = (127, 128) if bits == 8 else (32767, 32768)
                    pred = rng.choice([0, lo, hi, vmax], size=shape)
                elif kind == "blob":
                    yy, xx = np.mgrid[0:h, 0:w]
                    cy, cx = rng.random() * h, rng.random() * w
                    r = max(h, w) * (0.1 + 0.3 * rng.random())
                    truth = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.int64)
                    noisy = truth * 0.8 + rng.random(shape) * 0.4
                    pred = np.clip(noisy, 0, 1) * vmax
                truth_bits = 16 if i % 3 == 0 else 8
                truth_vals = truth * rng.integers(1, (65535 if truth_bits == 16 else 255) + 1,
                                                  size=shape)
                pname, tname = f"case{i:03d}_pred.png", f"case{i:03d}_truth.png"
                save(os.path.join(out, pname), np.asarray(pred), bits)
                save(os.path.join(out, tname), truth_vals, truth_bits)
                prob = np.asarray(pred, dtype=np.int64).astype(np.float64) / vmax
                cases.append(dict(pred=pname, truth=tname, kind=kind, bits=bits,
                                  **reference(prob, truth_vals)))
                i += 1
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(dict(seed=seed, cases=cases), f, indent=1)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
