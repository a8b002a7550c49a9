#!/usr/bin/env python3
"""Generate the reference fixtures for `medmetric_scoring::weights`.

The expected values are produced by the Bittensor SDK's own code
(`bittensor/utils/weight_utils.py`: `process_weights` with
`exclude_quantile=0`, then `convert_weights_and_uids_for_emit`) running on
NumPy, so they carry NumPy's float32/float64 arithmetic exactly: pairwise
summation, NEP 50 promotion of Python scalars, float64 fallback branches.
Nothing here is computed by the Rust code under test.

Usage:

    python3 -m venv /tmp/wenv && /tmp/wenv/bin/pip install 'numpy>=2.0.1,<3'
    # Either have `bittensor` installed in that environment, or point at the
    # SDK source file (its heavy imports are stubbed; only NumPy is needed):
    git --git-dir=<bittensor clone>/.git show HEAD:bittensor/utils/weight_utils.py \
        > /tmp/weight_utils.py
    /tmp/wenv/bin/python scripts/gen_weight_fixtures.py --weight-utils /tmp/weight_utils.py

Output (overwritten): crates/scoring/tests/fixtures/weights/{process.json,sums.json}.
The generator is deterministic for a given seed, SDK source and NumPy version;
all three are recorded in each file's "meta".
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "crates" / "scoring" / "tests" / "fixtures" / "weights"
U16_MAX = 65535


def _stub_module(name: str, **attrs) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name)
        sys.modules[name] = module
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def load_sdk(weight_utils: Path | None):
    """Return (module, description) for the SDK's weight_utils."""
    if weight_utils is None:
        module = importlib.import_module("bittensor.utils.weight_utils")
        source = Path(module.__file__).read_bytes()
        return module, "installed bittensor, sha256=" + hashlib.sha256(source).hexdigest()

    # Stand-ins for the imports weight_utils makes but process_weights and
    # convert_weights_and_uids_for_emit never use (NumPy path, no torch).
    class _Unused:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("stubbed out for fixture generation")

    class _Logging:
        def debug(self, *args, **kwargs):
            pass

        warning = info = error = debug

    for pkg in ("bittensor", "bittensor.core", "bittensor.utils"):
        _stub_module(pkg).__path__ = []
    _stub_module("bittensor_wallet", Keypair=_Unused)
    _stub_module("scalecodec", U16=_Unused, ScaleBytes=_Unused, Vec=_Unused)
    _stub_module("bittensor.core.types", Weights=list)
    _stub_module("bittensor.utils.btlogging", logging=_Logging())
    _stub_module(
        "bittensor.utils.registration",
        legacy_torch_api_compat=lambda func: func,
        torch=None,
        use_torch=lambda: False,
    )
    spec = importlib.util.spec_from_file_location("bittensor.utils.weight_utils", weight_utils)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    source = weight_utils.read_bytes()
    return module, "weight_utils.py sha256=" + hashlib.sha256(source).hexdigest()


def f32_bits(values) -> list[int]:
    """float32 values as their IEEE-754 bit patterns.

    Bits, not decimal numbers: serde_json's default float parser is only
    best-effort (not correctly rounded), and the tests compare bit for bit.
    """
    return [int(b) for b in np.asarray(values, dtype=np.float32).view(np.uint32)]


def f64_bits(values) -> list[int]:
    """float64 values (float32 ones widened exactly) as IEEE-754 bit patterns."""
    return [int(b) for b in np.asarray(values, dtype=np.float64).view(np.uint64)]


def branch_of(scores: np.ndarray, min_allowed: int) -> str:
    n = len(scores)
    nonzero = int((scores > 0).sum())
    if nonzero == 0 or n < min_allowed:
        return "uniform_fallback"
    if nonzero < min_allowed:
        return "min_allowed_fallback"
    return "normalize"


def run_case(sdk, name, uids, scores, limit, min_allowed):
    uids_np = np.asarray(uids, dtype=np.int64)
    scores_np = np.asarray(scores, dtype=np.float32)
    branch = branch_of(scores_np, min_allowed)
    with np.errstate(all="ignore"):
        out_uids, out_weights = sdk.process_weights(
            uids=uids_np,
            weights=scores_np,
            num_neurons=len(uids),
            min_allowed_weights=min_allowed,
            max_weight_limit=limit,
            exclude_quantile=0,
        )
    out_weights = np.asarray(out_weights)
    out_uids = np.asarray(out_uids, dtype=np.int64)
    if branch != "normalize":
        # The SDK returns positions 0..n-1 on its fallback branches; the
        # Rust port returns the uids at those positions.
        out_uids = uids_np[out_uids]
    case = {
        "name": name,
        "uids": [int(u) for u in uids_np],
        "scores_f32_bits": f32_bits(scores_np),
        "max_weight_limit": float(limit),
        "max_weight_limit_f64_bits": f64_bits([limit])[0],
        "min_allowed_weights": int(min_allowed),
        "branch": branch,
        "processed_dtype": str(out_weights.dtype),
        "processed_uids": [int(u) for u in out_uids],
        "processed_weights_f64_bits": f64_bits(out_weights),
    }
    try:
        emit_uids, emit_weights = sdk.convert_weights_and_uids_for_emit(out_uids, out_weights)
        case["emit"] = {"uids": [int(u) for u in emit_uids], "weights": [int(w) for w in emit_weights]}
    except ValueError as err:
        case["emit"] = {"error": str(err)[:200]}
    return case


def limit_from_u16(k: int) -> float:
    # What `subtensor.max_weight_limit()` returns: u16_normalized_float.
    return float(k) / float(U16_MAX)


def build_cases(sdk, rng: np.random.Generator) -> list[dict]:
    cases = []

    def add(name, scores, limit=1.0, min_allowed=0, shuffle=False):
        n = len(scores)
        uids = np.arange(n, dtype=np.int64)
        if shuffle:
            uids = rng.permutation(n)
        cases.append(run_case(sdk, name, uids, scores, limit, min_allowed))

    # The two documented SDK examples.
    add("sdk_example_increasing", [0.1, 0.2, 0.3, 0.4])
    add("sdk_example_zero_and_tiny", [0.5, 0.25, 0.0, 1e-6])

    # Hand-picked branch coverage.
    add("all_zero", [0.0] * 5, min_allowed=2)
    add("all_zero_with_limit", [0.0] * 12, limit=0.2)
    add("single_nonzero", [0.0, 0.0, 3.0, 0.0])
    add("n_below_min_allowed", [0.3, 0.1, 0.6], min_allowed=8)
    add("nonzero_below_min_allowed", [0.0, 0.9, 0.0, 0.05, 0.0, 0.0], min_allowed=4)
    add("nonzero_below_min_allowed_limit", [0.0, 0.9, 0.0, 0.05, 0.0, 0.0, 0.0, 0.0], limit=0.25, min_allowed=5)
    add("limit_uniform_when_n_times_limit_le_1", [1.0, 2.0, 3.0, 4.0, 5.0], limit=0.2)
    add("limit_active_small", [1.0, 1.0, 1.0, 10.0, 1.0, 1.0], limit=0.3)
    add("limit_active_chain_value", [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5], limit=limit_from_u16(6553))
    add("limit_exactly_estimation_max", [1.0, 1.0, 2.0], limit=0.5)
    add("ties", [0.25] * 9, limit=0.2)
    # Cases where comparing with the limit as float32 (NEP 50 weak scalar)
    # and as float64 give different results; the SDK compares in float32.
    add("limit_weak_scalar_estimation_max", [9.0, 11.0], limit=0.55)
    add(
        "limit_weak_scalar_cutoff_count",
        [19.0, 20.0, 27.0, 17.0, 23.0, 25.0, 7.0, 2.0, 9.0],
        limit=0.1206896334886551,
    )
    add("shuffled_uids", list(rng.random(20, dtype=np.float32)), shuffle=True)

    sizes = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 127, 128, 129, 200, 255, 256, 257, 300, 1000]
    limits = [1.0, 0.5, 0.25, 0.1, 0.05, 0.02, limit_from_u16(6553), limit_from_u16(1000), limit_from_u16(32767)]
    dists = ["uniform", "exponential", "powerlaw", "sparse", "tiny", "huge", "lognormal"]
    for i in range(126):
        n = int(sizes[i % len(sizes)])
        dist = dists[(i // len(sizes) + i) % len(dists)]
        if dist == "uniform":
            scores = rng.random(n, dtype=np.float32)
        elif dist == "exponential":
            scores = rng.exponential(1.0, n)
        elif dist == "powerlaw":
            scores = rng.pareto(1.2, n)
        elif dist == "sparse":
            scores = rng.random(n) * (rng.random(n) < 0.3)
        elif dist == "tiny":
            scores = rng.random(n) * 1e-30
        elif dist == "huge":
            scores = rng.random(n) * 1e30
        else:
            scores = rng.lognormal(0.0, 3.0, n)
        scores = np.asarray(scores, dtype=np.float32)
        limit = limits[int(rng.integers(len(limits)))]
        nonzero = int((scores > 0).sum())
        choice = i % 8
        if choice in (0, 1, 2):
            min_allowed = 0
        elif choice in (3, 4):
            min_allowed = int(rng.integers(1, max(nonzero, 1) + 1))
        elif choice == 5 and 0 < nonzero < n:
            # fewer non-zero scores than min_allowed_weights <= n
            min_allowed = int(rng.integers(nonzero + 1, n + 1))
        elif choice == 6:
            min_allowed = n + 1  # n < min_allowed_weights: uniform fallback
        else:
            min_allowed = 8
        add(f"random_{i:03}_{dist}_n{n}", list(scores), limit=limit, min_allowed=min_allowed, shuffle=bool(i % 2))

    # A few larger vectors: several levels of pairwise recursion.
    for n, limit, min_allowed in [(2500, 1.0, 0), (5000, limit_from_u16(100), 16)]:
        scores = np.asarray(rng.exponential(1.0, n) * (rng.random(n) < 0.9), dtype=np.float32)
        add(f"large_n{n}", list(scores), limit=limit, min_allowed=min_allowed, shuffle=True)
    scores = np.asarray(rng.random(3000) * (rng.random(3000) < 0.01), dtype=np.float32)
    add("large_sparse_min_allowed_fallback", list(scores), limit=0.05, min_allowed=64, shuffle=True)

    # More of the "fewer non-zero than min_allowed_weights" branch (float64 math).
    for i, n in enumerate([9, 16, 40, 130, 200, 257]):
        scores = np.asarray(rng.exponential(1.0, n) * (rng.random(n) < 0.25), dtype=np.float32)
        nonzero = int((scores > 0).sum())
        limit = limits[int(rng.integers(len(limits)))]
        add(f"min_allowed_fallback_{i}_n{n}", list(scores), limit=limit, min_allowed=min(n, nonzero + 1 + i), shuffle=True)
    return cases


def build_sums(rng: np.random.Generator) -> list[dict]:
    sums = []
    for n in [0, 1, 5, 7, 8, 9, 16, 17, 100, 128, 129, 130, 136, 255, 256, 257, 1000, 1031, 2049, 5003]:
        for dtype in (np.float32, np.float64):
            values = (rng.random(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dtype)
            if n % 2:
                values = np.sort(values)
            bits = f32_bits if dtype is np.float32 else f64_bits
            sums.append(
                {
                    "dtype": np.dtype(dtype).name,
                    "values_bits": bits(values),
                    "sum_bits": bits([values.sum()])[0],
                }
            )
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weight-utils", type=Path, help="path to the SDK's bittensor/utils/weight_utils.py")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()

    sdk, sdk_desc = load_sdk(args.weight_utils)
    meta = {
        "generator": "scripts/gen_weight_fixtures.py",
        "sdk": sdk_desc,
        "numpy": np.__version__,
        "seed": args.seed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cases = build_cases(sdk, rng)
    (args.out / "process.json").write_text(json.dumps({"meta": meta, "cases": cases}) + "\n")
    sums = build_sums(np.random.default_rng(args.seed + 1))
    (args.out / "sums.json").write_text(json.dumps({"meta": meta, "sums": sums}) + "\n")
    print(f"wrote {len(cases)} cases and {len(sums)} sums to {args.out}")


if __name__ == "__main__":
    main()
