// dekbox vs node:crypto AES-256-GCM, same process, same run.
//
//   node bench.mjs [--quick]
//
// Then, if @aws-crypto/client-node is installed, 1 KiB messages against the
// AWS Encryption SDK for JavaScript.
//
// node:crypto: createCipheriv('aes-256-gcm') with a fixed key and a random
// 12-byte IV per message (what hand-written helpers do), IV + ciphertext +
// tag concatenated; decryption likewise. dekbox: a local key, warm cache,
// one context, binary form: encryptSync / await encrypt, decryptSync /
// await decrypt. Medians of interleaved rounds (shuffled each round); ratio = node:crypto time /
// dekbox time (above 1: dekbox is faster).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { Box, Context } from 'dekbox'

const quick = process.argv.includes('--quick')
const dir = mkdtempSync(join(tmpdir(), 'dekbox-bench-'))
writeFileSync(join(dir, 'k'), randomBytes(32).toString('base64'), { mode: 0o600 })
const box = new Box({ key: `local://${join(dir, 'k')}` })
const context = new Context({ tenant: 'bench' })
const opts = { context }
const key = randomBytes(32)

function nodeSeal(pt) {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  const body = c.update(pt)
  c.final()
  return Buffer.concat([iv, body, c.getAuthTag()])
}

function nodeOpen(msg) {
  const d = createDecipheriv('aes-256-gcm', key, msg.subarray(0, 12))
  d.setAuthTag(msg.subarray(msg.length - 16))
  const out = d.update(msg.subarray(12, msg.length - 16))
  d.final()
  return out
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

async function time(fn, n) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const r = fn()
    if (r instanceof Promise) await r
  }
  return Number(process.hrtime.bigint() - t0) / n // ns per op
}

const sizes = [['64 B', 64], ['1 KiB', 1024], ['64 KiB', 65536], ['1 MiB', 1 << 20]]
const rounds = quick ? 5 : 15
const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`)
const gbps = (bytes, ns) => `${(bytes / ns).toFixed(2)} GB/s`

console.log(`dekbox ${process.versions.node ? 'on Node ' + process.versions.node : ''}: median of ${rounds} interleaved rounds; ratio = node:crypto / dekbox\n`)
console.log('| size | node:crypto seal | dekbox encryptSync | ratio | await encrypt | ratio | node:crypto open | dekbox decryptSync | ratio | await decrypt | ratio |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|')
for (const [label, size] of sizes) {
  const pt = randomBytes(size)
  const n = Math.max(20, Math.floor((quick ? 2e7 : 6e7) / (size + 2000)))
  const sealedNode = nodeSeal(pt)
  const sealedBox = box.encryptSync(pt, opts)
  if (!box.decryptSync(sealedBox, opts).equals(pt) || !nodeOpen(sealedNode).equals(pt)) throw new Error('round trip failed')
  const cases = {
    nodeSeal: () => nodeSeal(pt),
    encSync: () => box.encryptSync(pt, opts),
    encAsync: () => box.encrypt(pt, opts),
    nodeOpen: () => nodeOpen(sealedNode),
    decSync: () => box.decryptSync(sealedBox, opts),
    decAsync: () => box.decrypt(sealedBox, opts),
  }
  const runs = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
  for (const f of Object.values(cases)) await time(f, Math.ceil(n / 4)) // warm up
  // A different order each round, so no case always follows the same one's garbage.
  const order = Object.keys(cases)
  for (let r = 0; r < rounds; r++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    for (const k of order) runs[k].push(await time(cases[k], n))
  }
  const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]))
  const cell = (ns) => (size >= 65536 ? `${fmt(ns)} (${gbps(size, ns)})` : fmt(ns))
  const ratio = (base, ns) => `**${(base / ns).toFixed(1)}x**`
  console.log(`| ${label} | ${cell(m.nodeSeal)} | ${cell(m.encSync)} | ${ratio(m.nodeSeal, m.encSync)} | ${cell(m.encAsync)} | ${ratio(m.nodeSeal, m.encAsync)} ` +
    `| ${cell(m.nodeOpen)} | ${cell(m.decSync)} | ${ratio(m.nodeOpen, m.decSync)} | ${cell(m.decAsync)} | ${ratio(m.nodeOpen, m.decAsync)} |`)
}
const st = box.cacheStats()
console.log(`\ndata keys generated: ${st.dataKeysGenerated}, KMS (local key) calls: ${st.kmsCalls}`)

// Against the AWS Encryption SDK for JavaScript (if installed: bench.sh
// --node installs it): 1 KiB, its committing suite without signatures, a
// raw AES keyring (no KMS, so both sides pay only their own per-message work).
let esdk
try {
  esdk = (await import('@aws-crypto/client-node')).default
} catch {
  console.log('\n@aws-crypto/client-node not installed; npm install @aws-crypto/client-node for the comparison')
}
if (esdk) {
  const { buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, AlgorithmSuiteIdentifier } = esdk
  const client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
  const keyring = new RawAesKeyringNode({
    keyName: 'k1',
    keyNamespace: 'bench',
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  })
  const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
  const encryptionContext = { tenant: 'bench' }
  const pt = randomBytes(1024)
  const esdkSealed = (await client.encrypt(keyring, pt, { encryptionContext, suiteId })).result
  const boxSealed = box.encryptSync(pt, opts)
  const rows = [
    ['seal', () => box.encrypt(pt, opts), () => client.encrypt(keyring, pt, { encryptionContext, suiteId })],
    ['open', () => box.decrypt(boxSealed, opts), () => client.decrypt(keyring, esdkSealed)],
  ]
  console.log(`\n1 KiB vs AWS Encryption SDK for JavaScript ${esdkVersion()} (raw AES keyring, committing suite, no signatures)`)
  for (const [op, ours, theirs] of rows) {
    const d = [], e = []
    for (let r = 0; r < (quick ? 3 : 7); r++) {
      d.push(await time(ours, 5000))
      e.push(await time(theirs, quick ? 50 : 200))
    }
    const [dm, em] = [median(d), median(e)]
    console.log(`${op}: dekbox (await) ${fmt(dm)}, ESDK ${fmt(em)}: dekbox is ${(em / dm).toFixed(0)}x faster`)
  }
}

function esdkVersion() {
  try {
    return createRequire(import.meta.url)('@aws-crypto/client-node/package.json').version
  } catch {
    return ''
  }
}
