#!/usr/bin/env python3
"""The round-build pipeline in Python with OpenCV + NumPy, for comparison.

Does what `medmetric round build --pool folder:SRC` does, with the usual
Python tools: read each sampled case (16-bit PNG + mask), min-max normalise,
letterbox to a square and resize (cv2.resize, bilinear / nearest), paste a
lesion from an abnormal donor onto 30% of the normal cases with
cv2.seamlessClone (OpenCV's Poisson blending, which needs 8-bit BGR), augment
75% of the cases (warpAffine, 16-bit CLAHE, Gaussian noise, bit-depth
reduction, occlusion), quantise to 16 bits, write 16-bit image and 8-bit mask
PNGs, hash every file with SHA-256 and write a manifest.

Usage: round_build.py SRC_POOL_DIR OUT_DIR --size 256 --cases 64 [--seed 1]
Prints {"images", "seconds", "images_per_second"} as JSON.
"""
import argparse
import hashlib
import json
import os
import time

import cv2
import numpy as np


def load_case(root, case, size):
    img = cv2.imread(os.path.join(root, case["image"]), cv2.IMREAD_UNCHANGED).astype(np.float64)
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if case.get("mask"):
        mask = (cv2.imread(os.path.join(root, case["mask"]), cv2.IMREAD_UNCHANGED) > 0).astype(np.uint8)
    else:
        mask = np.zeros(img.shape, np.uint8)
    h, w = img.shape
    side = max(h, w)
    sq = np.zeros((side, side), np.float64)
    sm = np.zeros((side, side), np.uint8)
    oy, ox = (side - h) // 2, (side - w) // 2
    sq[oy:oy + h, ox:ox + w] = img
    sm[oy:oy + h, ox:ox + w] = mask
    img = cv2.resize(sq.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(sm, (size, size), interpolation=cv2.INTER_NEAREST)
    return img, mask


def transplant(rng, img, mask, donor, dmask):
    ys, xs = np.nonzero(dmask)
    if len(ys) == 0:
        return img, mask
    m = max(2, img.shape[0] // 64)
    y0, y1 = max(ys.min() - m, 0), min(ys.max() + m + 1, img.shape[0])
    x0, x1 = max(xs.min() - m, 0), min(xs.max() + m + 1, img.shape[1])
    ph, pw = y1 - y0, x1 - x0
    if ph + 4 >= img.shape[0] or pw + 4 >= img.shape[1]:
        return img, mask
    cy = int(rng.integers(ph // 2 + 2, img.shape[0] - ph // 2 - 2))
    cx = int(rng.integers(pw // 2 + 2, img.shape[1] - pw // 2 - 2))
    src = cv2.cvtColor((donor[y0:y1, x0:x1] * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    dst = cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    region = cv2.dilate(dmask[y0:y1, x0:x1], np.ones((2 * m + 1, 2 * m + 1), np.uint8)) * 255
    out = cv2.seamlessClone(src, dst, region, (cx, cy), cv2.NORMAL_CLONE)
    img = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    ty, tx = cy - ph // 2, cx - pw // 2
    mask = mask.copy()
    mask[ty:ty + ph, tx:tx + pw] |= dmask[y0:y1, x0:x1]
    return img, mask


def augment(rng, img, mask):
    size = img.shape[0]
    if rng.random() < 0.5:
        a = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-10, 10), rng.uniform(0.9, 1.1))
        a[:, 2] += rng.uniform(-0.05, 0.05, 2) * size
        img = cv2.warpAffine(img, a, (size, size), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(mask, a, (size, size), flags=cv2.INTER_NEAREST)
    if rng.random() < 0.3:
        clahe = cv2.createCLAHE(clipLimit=rng.uniform(1, 4), tileGridSize=(8, 8))
        img = clahe.apply((img * 65535).astype(np.uint16)).astype(np.float32) / 65535
    if rng.random() < 0.3:
        bits = int(rng.integers(6, 12))
        levels = (1 << bits) - 1
        img = np.round(img * levels) / levels
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape)
    if rng.random() < 0.2:
        s = size // 8
        y, x = rng.integers(0, size - s, 2)
        img[y:y + s, x:x + s] = 0
    return np.clip(img, 0, 1), mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cases", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with open(os.path.join(args.src, "pool.json")) as f:
        pool = json.load(f)
    cases = pool["cases"]
    rng = np.random.default_rng(args.seed)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "masks"), exist_ok=True)
    cv2.setNumThreads(1)
    started = time.perf_counter()
    donors = [c for c in cases if c["label"] == "abnormal"]
    files = []
    picks = rng.choice(len(cases), size=args.cases, replace=args.cases > len(cases))
    for j, k in enumerate(picks):
        img, mask = load_case(args.src, cases[k], args.size)
        if cases[k]["label"] == "normal" and donors and rng.random() < 0.3:
            d = donors[int(rng.integers(len(donors)))]
            dimg, dmask = load_case(args.src, d, args.size)
            img, mask = transplant(rng, img, mask, dimg, dmask)
        if rng.random() < 0.75:
            img, mask = augment(rng, img, mask)
        q = np.round(np.clip(img, 0, 1) * 65535).astype(np.uint16)
        for rel, arr in ((f"images/{j:04}.png", q), (f"masks/{j:04}.png", mask * 255)):
            path = os.path.join(args.out, rel)
            cv2.imwrite(path, arr)
            with open(path, "rb") as f:
                files.append({"path": rel, "sha256": hashlib.sha256(f.read()).hexdigest()})
    manifest = {"files": files}
    body = json.dumps(manifest, sort_keys=True).encode()
    manifest["digest"] = hashlib.sha256(body).hexdigest()
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    seconds = time.perf_counter() - started
    print(json.dumps({"images": args.cases, "seconds": seconds,
                      "images_per_second": args.cases / seconds}))


if __name__ == "__main__":
    main()
