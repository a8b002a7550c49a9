#!/usr/bin/env python3
"""Reference CLAHE outputs from OpenCV for `medmetric_imaging::augment::clahe`.

Writes random 8- and 16-bit grayscale input PNGs, OpenCV's
`cv2.createCLAHE(clipLimit=CLIP, tileGridSize=(TX, TY)).apply(img)` for a grid
of clip limits and tile grids, and `index.json` listing every case. The Rust
test `crates/imaging/tests/augment.rs` runs our CLAHE on each input and
requires byte equality with OpenCV's output.

Images cover sizes not divisible by the tile grid (OpenCV pads with
BORDER_REFLECT_101, even past the image's own width), 1x1 and single-row or
single-column images, constant images, narrow-range images (where clipping and
the residual redistribution matter) and full-range noise.

Usage: gen_clahe_fixtures.py OUT_DIR [SEED] [--small]

--small keeps the set to about 300 kB (the committed set in
crates/imaging/tests/fixtures/clahe); without it larger images and every
(clip, tiles) pair are written, as the test command does each run.
"""
import json
import os
import sys

import cv2
import numpy as np

CLIPS = [0.0, 0.5, 1.0, 2.0, 4.0, 40.0]
TILES = [1, 2, 3, 8, 16]
FULL_SIZES = [(1, 1), (1, 9), (7, 1), (7, 5), (13, 31), (64, 64), (100, 37), (37, 100),
              (256, 256), (255, 257), (512, 130)]
SMALL_SIZES = [(1, 1), (1, 9), (7, 1), (7, 5), (13, 31), (64, 64), (100, 37)]
KINDS = ["uniform", "narrow", "smooth", "constant", "few"]


def make_image(rng, w, h, bits, kind):
    vmax = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    if kind == "uniform":
        img = rng.integers(0, vmax + 1, size=(h, w))
    elif kind == "narrow":
        # a narrow band: tall histogram peaks, so clipping redistributes a lot
        lo = int(rng.integers(0, vmax - vmax // 16))
        img = lo + rng.integers(0, max(vmax // 64, 3), size=(h, w))
    elif kind == "smooth":
        yy, xx = np.mgrid[0:h, 0:w]
        base = 0.5 + 0.35 * np.sin(xx / max(w, 1) * 5.1 + rng.random() * 6) * \
            np.cos(yy / max(h, 1) * 3.7 + rng.random() * 6)
        img = np.clip(base + rng.normal(0, 0.03, size=(h, w)), 0, 1) * vmax
    elif kind == "constant":
        img = np.full((h, w), int(rng.integers(0, vmax + 1)))
    else:  # few distinct values
        values = rng.integers(0, vmax + 1, size=4)
        img = values[rng.integers(0, 4, size=(h, w))]
    return np.clip(np.rint(img), 0, vmax).astype(dtype)


def pick_kinds(rng, small):
    if small:
        return [KINDS[i] for i in rng.choice(len(KINDS), size=2, replace=False)]
    return KINDS


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    small = "--small" in sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out = args[0]
    seed = int(args[1]) if len(args) > 1 else 20261122
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    cases = []
    n_img = 0
    sizes = SMALL_SIZES if small else FULL_SIZES
    for bits in (8, 16):
        for (w, h) in sizes:
            for kind in pick_kinds(rng, small):
                img = make_image(rng, w, h, bits, kind)
                name = f"in{n_img:03d}_{bits}b_{w}x{h}_{kind}.png"
                n_img += 1
                assert cv2.imwrite(os.path.join(out, name), img)
                grid = [(c, t, t) for c in CLIPS for t in TILES]
                grid.append((2.0, 3, 5))
                grid.append((1.0, 8, 2))
                if small:
                    # a few (clip, tiles) pairs per image, always including 16x16 tiles
                    picks = rng.choice(len(grid), size=6, replace=False)
                    grid = [grid[i] for i in picks] + [(40.0, 16, 16)]
                for (clip, tx, ty) in grid:
                    res = cv2.createCLAHE(clipLimit=clip, tileGridSize=(tx, ty)).apply(img)
                    oname = f"out{len(cases):05d}.png"
                    assert cv2.imwrite(os.path.join(out, oname), res)
                    cases.append(dict(input=name, output=oname, bits=bits, width=w, height=h,
                                      kind=kind, clip=clip, tiles_x=tx, tiles_y=ty))
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(dict(seed=seed, opencv=cv2.__version__, cases=cases), f, indent=1)
    print(f"wrote {len(cases)} CLAHE cases on {n_img} images to {out}")


if __name__ == "__main__":
    main()
