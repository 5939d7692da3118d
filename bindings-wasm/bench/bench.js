// The browser bench, run in the page by bench.mjs: dekbox-browser against
// Web Crypto (crypto.subtle AES-256-GCM with the same key material) in the
// same run. Medians of interleaved rounds; Web Crypto is async and pays a
// promise per call, measured both one call at a time and with calls in
// flight together.
import init, { DataKey } from '/pkg/web/dekbox.js'

const now = () => performance.now()
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

async function time(fn, iters) {
  const t = now()
  await fn(iters)
  return ((now() - t) * 1000) / iters // µs per message
}

/** Runs each case `rounds` times, interleaved; medians in µs per message. */
async function interleaved(cases, rounds) {
  const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
  for (let r = 0; r < rounds; r++) {
    for (const [name, [fn, iters]] of Object.entries(cases)) results[name].push(await time(fn, iters))
  }
  return Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]))
}

export async function run({ token, quick }) {
  await init()
  const key = DataKey.from(token)
  const rounds = quick ? 5 : 15
  const subtle = crypto.subtle
  const raw = crypto.getRandomValues(new Uint8Array(32))
  const cryptoKey = await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt'])
  const out = { sizes: [], crossover: [] }

  for (const [label, size, n] of [['1 KiB', 1024, quick ? 500 : 2000], ['1 MiB', 1 << 20, quick ? 4 : 10]]) {
    const pt = crypto.getRandomValues(new Uint8Array(size > 65536 ? 65536 : size))
    const plain = new Uint8Array(size)
    for (let i = 0; i < size; i += pt.length) plain.set(pt.subarray(0, Math.min(pt.length, size - i)), i)
    const ctx = { context: { tenant: 'acme' }, aad: 'rows/1' }
    const msg = key.seal(plain, ctx)
    const msgs = Array.from({ length: n }, () => msg)
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const ad = new Uint8Array(128)
    const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, cryptoKey, plain))
    const cases = {
      'webcrypto await each': [async (k) => { for (let i = 0; i < k; i++) await subtle.decrypt({ name: 'AES-GCM', iv, additionalData: ad }, cryptoKey, ct) }, n],
      'webcrypto in flight': [async (k) => { await Promise.all(Array.from({ length: k }, () => subtle.decrypt({ name: 'AES-GCM', iv, additionalData: ad }, cryptoKey, ct))) }, n],
      'dekbox open (sync)': [async (k) => { for (let i = 0; i < k; i++) key.open(msg, ctx) }, n],
      'dekbox openMany': [async (k) => { key.openMany(msgs.slice(0, k), { context: ctx.context, aads: msgs.slice(0, k).map(() => ctx.aad) }) }, n],
      'dekbox openAsync await each': [async (k) => { for (let i = 0; i < k; i++) await key.openAsync(msg, ctx) }, n],
      'dekbox openAsync in flight': [async (k) => { await Promise.all(Array.from({ length: k }, () => key.openAsync(msg, ctx))) }, n],
      'dekbox openManyAsync': [async (k) => { await key.openManyAsync(msgs.slice(0, k), { context: ctx.context, aads: msgs.slice(0, k).map(() => ctx.aad) }) }, n],
    }
    out.sizes.push({ label, size, us: await interleaved(cases, rounds) })
  }

  // Where Web Crypto starts to beat AES in WebAssembly.
  for (const size of [4096, 16384, 32768, 65536, 131072, 262144]) {
    const plain = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)))
    const big = new Uint8Array(size)
    for (let i = 0; i < size; i += plain.length) big.set(plain.subarray(0, Math.min(plain.length, size - i)), i)
    const ctx = { context: { tenant: 'acme' } }
    const msg = key.seal(big, ctx)
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, cryptoKey, big))
    const n = Math.max(8, Math.round((quick ? 2 : 8) * 262144 / size))
    const r = await interleaved({
      wasm: [async (k) => { for (let i = 0; i < k; i++) key.open(msg, ctx) }, n],
      webcrypto: [async (k) => { for (let i = 0; i < k; i++) await subtle.decrypt({ name: 'AES-GCM', iv }, cryptoKey, ct) }, n],
    }, rounds)
    out.crossover.push({ size, ...r })
  }
  key.free()
  return out
}
