// worker_threads: each worker loads the addon in its own realm with its own
// Box; they work side by side and their errors are their own realm's classes.
import test from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { Box } from 'dekbox'
import { keyFile } from './helpers.mjs'

const body = `
const { parentPort, workerData } = require('node:worker_threads')
const { Box, Context, AuthenticationError } = require('dekbox')
;(async () => {
  const box = new Box(workerData.key)
  const ctx = new Context({ worker: String(workerData.id) })
  const out = []
  for (let i = 0; i < 2000; i++) {
    const v = 'w' + workerData.id + ' row ' + i
    const s = i % 2 ? box.encryptSync(v, { context: ctx }) : await box.encrypt(v, { context: ctx, text: true })
    const o = i % 3 ? box.decryptSync(s, { context: ctx }) : await box.decrypt(s, { context: ctx })
    if (o.toString() !== v) throw new Error('mismatch')
    if (i < 3) out.push(typeof s === 'string' ? s : s.toString('base64'))
  }
  let realm = false
  try { box.decryptSync(box.encryptSync('x', { context: ctx }), { context: {} }) } catch (e) { realm = e instanceof AuthenticationError }
  parentPort.postMessage({ out, realm, stats: box.cacheStats() })
})().catch((e) => { throw e })
`

test('four workers, each with its own Box, side by side', async () => {
  const key = keyFile()
  const results = await Promise.all([0, 1, 2, 3].map((id) => new Promise((resolve, reject) => {
    const w = new Worker(body, { eval: true, workerData: { key, id } })
    w.once('message', resolve)
    w.once('error', reject)
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exit ${code}`)))
  })))
  const box = new Box(key)
  for (const [id, r] of results.entries()) {
    assert.ok(r.realm, 'errors are instances of the worker realm classes')
    assert.equal(r.stats.encryptMisses, 1, JSON.stringify(r.stats))
    // What a worker sealed opens on the main thread.
    const first = box.decryptSync(r.out[0], { context: { worker: String(id) } })
    assert.equal(first.toString(), `w${id} row 0`)
  }
})
