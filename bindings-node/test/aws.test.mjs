// AWS KMS through moto on 127.0.0.1 and the fault proxy (started by
// ./scripts/test.sh). Tests in this file run one after another: they share
// the proxy's counters.
import test from 'node:test'
import assert from 'node:assert/strict'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { Box, AuthenticationError, KeyNotFound, KeyDisabled, KmsThrottled, MalformedError } from 'dekbox'
import { need, kms, kmsKey, proxy, awsEnv } from './helpers.mjs'

awsEnv()
const CTX = { tenant: 'acme' }

test('KMS round trip: a second Box opens with one Decrypt', async () => {
  const url = need('DEKBOX_TEST_MOTO_URL')
  const arn = await kmsKey(url)
  const box = new Box({ key: `aws-kms://${arn}`, endpoint: url })
  const token = await box.encrypt('kms-backed', { context: CTX, text: true })
  assert.equal(box.cacheStats().kmsCalls, 1)
  const reader = new Box({ key: `aws-kms://${arn}`, endpoint: url })
  assert.equal((await reader.decrypt(token, { context: CTX })).toString(), 'kms-backed')
  assert.equal(reader.cacheStats().kmsCalls, 1)
  await assert.rejects(new Box({ key: `aws-kms://${arn}`, endpoint: url }).decrypt(token, { context: { tenant: 'other' } }), AuthenticationError)
  const missing = new Box({ key: 'aws-kms://arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000', endpoint: url })
  await assert.rejects(missing.encrypt('x'), (e) => e instanceof KeyNotFound && e.code === 'ERR_DEKBOX_KEY_NOT_FOUND')
  // Data keys for your own cipher, through the KMS.
  const dk = await box.generateDataKey({ context: CTX })
  assert.deepEqual(await reader.unwrap(dk.wrapped, { context: CTX }), dk.plaintext)
})

test('10,000 rows cost one GenerateDataKey and one Decrypt', async () => {
  const arn = await kmsKey(need('DEKBOX_TEST_MOTO_URL'))
  const purl = need('DEKBOX_TEST_FAULT_PROXY_URL')
  await proxy('/__reset', {})
  const writer = new Box({ key: `aws-kms://${arn}`, endpoint: purl })
  const rows = Array.from({ length: 10_000 }, (_, i) => `row ${i}`)
  const sealed = await writer.encryptMany(rows, { context: CTX, text: true })
  const reader = new Box({ key: `aws-kms://${arn}`, endpoint: purl })
  const opened = await reader.decryptMany(sealed, { context: CTX })
  assert.deepEqual(opened.map(String), rows)
  // One at a time, as an ORM reads rows, after the batch warmed the cache.
  for (const s of sealed.slice(0, 1000)) await reader.decrypt(s, { context: CTX })
  const stats = await proxy('/__stats')
  assert.equal(stats.forwarded['TrentService.GenerateDataKey'], 1, JSON.stringify(stats))
  assert.equal(stats.forwarded['TrentService.Decrypt'], 1, JSON.stringify(stats))
  assert.equal(reader.cacheStats().kmsCalls, 1)
})

test('throttling and 5xx through the fault proxy all succeed after retries', async () => {
  const arn = await kmsKey(need('DEKBOX_TEST_MOTO_URL'))
  const purl = need('DEKBOX_TEST_FAULT_PROXY_URL')
  await proxy('/__reset', {})
  const box = new Box({ key: `aws-kms://${arn}`, endpoint: purl, cache: false })
  await proxy('/__fault', { throttle: 0.3, error500: 0.1, seed: 3 })
  try {
    for (let i = 0; i < 30; i++) {
      const s = await box.encrypt(`v${i}`, { context: CTX })
      assert.equal((await box.decrypt(s, { context: CTX })).toString(), `v${i}`)
    }
    const stats = await proxy('/__stats')
    const faults = Object.values(stats.faults).reduce((a, b) => a + b, 0)
    assert.ok(faults > 5, JSON.stringify(stats))
    await proxy('/__reset', {})
    await proxy('/__fault', { respond: 'DisabledException' })
    await assert.rejects(box.encrypt('x'), (e) => e instanceof KeyDisabled && !e.retryable)
    await proxy('/__reset', {})
    await proxy('/__fault', { throttle: 1.0 })
    await assert.rejects(box.encrypt('x'), (e) => e instanceof KmsThrottled && e.retryable && e.code === 'ERR_DEKBOX_KMS_THROTTLED')
  } finally {
    await proxy('/__reset', {})
  }
})

test('1,000 concurrent encrypts on a cold cache: one GenerateDataKey, the event loop keeps running', async () => {
  const arn = await kmsKey(need('DEKBOX_TEST_MOTO_URL'))
  const purl = need('DEKBOX_TEST_FAULT_PROXY_URL')
  await proxy('/__reset', {})
  await proxy('/__fault', { delay: 1.0 }) // each KMS call takes a second
  try {
    const box = new Box({ key: `aws-kms://${arn}`, endpoint: purl })
    // A 5 ms timer, and the event-loop delay histogram, while the KMS call is in flight.
    const h = monitorEventLoopDelay({ resolution: 5 })
    let ticks = 0
    let worst = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      worst = Math.max(worst, now - last - 5)
      last = now
      ticks++
    }, 5)
    h.enable()
    const started = performance.now()
    const sealed = await Promise.all(Array.from({ length: 1000 }, (_, i) => box.encrypt(`value ${i}`, { context: CTX })))
    const took = performance.now() - started
    h.disable()
    clearInterval(timer)
    assert.equal(sealed.length, 1000)
    const stats = await proxy('/__stats')
    assert.equal(stats.forwarded['TrentService.GenerateDataKey'], 1, JSON.stringify(stats))
    assert.equal(box.cacheStats().kmsCalls, 1)
    // The loop ran all along: the timer fired through the 300 ms call.
    assert.ok(took >= 900, `took ${took} ms`)
    assert.ok(ticks >= took / 5 / 4, `only ${ticks} ticks in ${took.toFixed(0)} ms`)
    // Blocked by the KMS call, the timer would lag by about a second.
    assert.ok(worst < 500, `timer lag ${worst.toFixed(1)} ms`)
    console.log(`# 1,000 encrypts in ${took.toFixed(0)} ms (one 1 s KMS call): timer fired ${ticks} times, ` +
      `worst lag ${worst.toFixed(1)} ms, event-loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`)
    await proxy('/__reset', {})
    const reader = new Box({ key: `aws-kms://${arn}`, endpoint: purl })
    const opened = await Promise.all(sealed.map((s) => reader.decrypt(s, { context: CTX })))
    assert.equal(opened[999].toString(), 'value 999')
    assert.equal((await proxy('/__stats')).forwarded['TrentService.Decrypt'], 1)
  } finally {
    await proxy('/__reset', {})
  }
})

test('legacy values encrypted directly by KMS fall back when asked, never otherwise', async () => {
  const url = need('DEKBOX_TEST_MOTO_URL')
  const arn = await kmsKey(url)
  const legacy = Buffer.from((await kms(url, 'Encrypt', {
    KeyId: arn, Plaintext: Buffer.from('written before dekbox').toString('base64'), EncryptionContext: CTX,
  })).CiphertextBlob, 'base64')
  await assert.rejects(new Box({ key: `aws-kms://${arn}`, endpoint: url }).decrypt(legacy, { context: CTX }), MalformedError)
  const box = new Box({ key: `aws-kms://${arn}`, endpoint: url, legacyFallback: true })
  assert.equal((await box.decrypt(legacy, { context: CTX })).toString(), 'written before dekbox')
  await assert.rejects(box.decrypt(legacy, { context: { tenant: 'other' } }), AuthenticationError)
})

test('a worker terminated while its KMS call is in flight: the call finishes into nothing, the process carries on', async () => {
  const arn = await kmsKey(need('DEKBOX_TEST_MOTO_URL'))
  const purl = need('DEKBOX_TEST_FAULT_PROXY_URL')
  await proxy('/__reset', {})
  await proxy('/__fault', { delay: 0.5 })
  try {
    const body = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { Box } = require('dekbox')
      const box = new Box({ key: workerData.key, endpoint: workerData.endpoint })
      for (let i = 0; i < 20; i++) box.encrypt('in flight ' + i, { context: { n: String(i) } })
      box.generateDataKey().then(() => {})
      parentPort.postMessage('started')
    `
    for (let round = 0; round < 3; round++) {
      const w = new Worker(body, { eval: true, workerData: { key: `aws-kms://${arn}`, endpoint: purl } })
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
      await new Promise((r) => setTimeout(r, 100))
      assert.equal(await w.terminate(), 1)
    }
    // The workers' KMS calls complete now, after their realms are gone.
    await new Promise((r) => setTimeout(r, 1200))
    const stats = await proxy('/__stats')
    assert.ok((stats.forwarded['TrentService.GenerateDataKey'] ?? 0) >= 3, JSON.stringify(stats))
    await proxy('/__reset', {})
    const box = new Box({ key: `aws-kms://${arn}`, endpoint: purl })
    assert.equal((await box.decrypt(await box.encrypt('still fine'))).toString(), 'still fine')
  } finally {
    await proxy('/__reset', {})
  }
})
