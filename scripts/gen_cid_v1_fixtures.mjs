// CIDv1 reference values for `medmetric_store::cid`, from the JavaScript
// UnixFS importer (the one Helia uses), because the Kubo C API that
// scripts/gen_cid_fixtures.py drives takes no CID version.
//
// For every case of a cids.json written by gen_cid_fixtures.py it imports
// the same deterministic bytes twice with Kubo's `ipfs add` settings:
// CIDv0 (no raw leaves) and CIDv1 (raw leaves), fixed 262144-byte chunks,
// balanced layout with at most 174 children, a single leaf as its own root.
// It refuses to write anything unless its CIDv0 equals Kubo's for every
// case, so the CIDv1 values come from an importer shown to build Kubo's DAG.
//
// Setup, outside the repository:
//   npm install ipfs-unixfs-importer@17.1.1 blockstore-core@7.0.1
// Usage:
//   NODE_PATH=... node scripts/gen_cid_v1_fixtures.mjs IN/cids.json OUT.json
// (run it from the directory holding node_modules, or copy it there).

import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'

// block_i = SHA-256("medmetric/cid-fixture/v1" || seed u64 LE || i u64 LE)
function fileBytes (size, seed) {
  const out = Buffer.alloc(size + 32)
  const prefix = Buffer.from('medmetric/cid-fixture/v1')
  let off = 0
  let i = 0n
  while (off < size) {
    const s = Buffer.alloc(8)
    s.writeBigUInt64LE(BigInt(seed))
    const c = Buffer.alloc(8)
    c.writeBigUInt64LE(i)
    createHash('sha256').update(prefix).update(s).update(c).digest().copy(out, off)
    off += 32
    i++
  }
  return out.subarray(0, size)
}

async function cidOf (bytes, version) {
  let last
  for await (const entry of importer([{ content: bytes }], new MemoryBlockstore(), {
    cidVersion: version,
    rawLeaves: version === 1,
    reduceSingleLeafToSelf: true,
    leafType: 'file',
    chunker: fixedSize({ chunkSize: 262144 }),
    layout: balanced({ maxChildrenPerNode: 174 })
  })) last = entry
  return last.cid.toString()
}

const [input, output] = process.argv.slice(2)
if (!input || !output) {
  console.error('usage: gen_cid_v1_fixtures.mjs IN/cids.json OUT.json')
  process.exit(2)
}
const doc = JSON.parse(readFileSync(input))
const cases = []
for (const c of doc.cases) {
  const bytes = fileBytes(c.size, c.seed)
  const v0 = await cidOf(bytes, 0)
  if (v0 !== c.cid_v0) {
    console.error(`${c.name}: importer CIDv0 ${v0} differs from Kubo's ${c.cid_v0}`)
    process.exit(1)
  }
  cases.push({ name: c.name, size: c.size, seed: c.seed, cid_v0: v0, cid_v1: await cidOf(bytes, 1) })
}
const pkg = JSON.parse(readFileSync('node_modules/ipfs-unixfs-importer/package.json'))
writeFileSync(output, JSON.stringify({
  generator: 'scripts/gen_cid_v1_fixtures.mjs',
  importer: `ipfs-unixfs-importer ${pkg.version}`,
  cidv0_checked_against: `Kubo ${doc.kubo}`,
  rule: doc.rule,
  cases
}, null, 1) + '\n')
console.log(`wrote ${cases.length} CIDv1 values to ${output}`)
