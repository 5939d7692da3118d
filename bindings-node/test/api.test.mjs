// The API on a local key: round trips, every kind of bad input, argument
// types, batches, keyrings, data keys, errors.
import test from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, cpSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { spawnSync } from 'node:child_process'
import util from 'node:util'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import {
  Box, Context, DekboxError, AuthenticationError, MalformedError, UnknownKeyError, ConfigError,
  InvalidArgumentError, errorsByCode,
} from 'dekbox'
import { keyFile } from './helpers.mjs'

const CTX = { tenant: 'acme' }
const SIZES = [0, 1, 64, 1024, 4095, 4096, 65536, 1 << 20]

test('every size and form round-trips, sync and async', async () => {
  const box = new Box({ key: keyFile() })
  for (const n of SIZES) {
    const data = Buffer.alloc(n, n % 251)
    for (const text of [false, true]) {
      const a = await box.encrypt(data, { context: CTX, aad: 'r/1', text })
      const s = box.encryptSync(data, { context: CTX, aad: 'r/1', text })
      assert.equal(typeof a, text ? 'string' : 'object')
      assert.equal(typeof s, text ? 'string' : 'object')
      if (text) assert.match(a, /^dekbox:v1:/)
      else assert.ok(Buffer.isBuffer(a) && Buffer.isBuffer(s))
      for (const sealed of [a, s]) {
        assert.deepEqual(await box.decrypt(sealed, { context: CTX, aad: 'r/1' }), data)
        assert.deepEqual(box.decryptSync(sealed, { context: new Context(CTX), aad: Buffer.from('r/1') }), data)
      }
      assert.notDeepEqual(a, s, 'two seals of the same value differ')
    }
  }
})

test('inputs: Buffer, Uint8Array (and views into a larger buffer), string', async () => {
  const box = new Box({ key: keyFile() })
  const backing = new Uint8Array(64).map((_, i) => i)
  const view = backing.subarray(10, 20)
  assert.deepEqual(box.decryptSync(box.encryptSync(view)), Buffer.from(view))
  assert.deepEqual(box.decryptSync(box.encryptSync(new Uint8Array([1, 2, 3]))), Buffer.from([1, 2, 3]))
  assert.equal(box.decryptSync(box.encryptSync('héllo ✓')).toString(), 'héllo ✓')
  const sealed = box.encryptSync('x')
  assert.equal(box.decryptSync(new Uint8Array(sealed)).toString(), 'x')
  assert.equal((await box.decrypt(box.encryptSync('y', { text: true }))).toString(), 'y')
})

test('tamper, truncation, garbage, wrong context, aad and key give the right classes', async () => {
  const box = new Box({ key: keyFile() })
  const data = Buffer.from('the secret value')
  const sealed = box.encryptSync(data, { context: CTX, aad: 'row/1' })
  // Every bit of the message, flipped one at a time, is caught.
  for (let i = 0; i < sealed.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const t = Buffer.from(sealed)
      t[i] ^= bit
      assert.throws(() => box.decryptSync(t, { context: CTX, aad: 'row/1' }), (e) =>
        (e instanceof AuthenticationError || e instanceof MalformedError || e instanceof UnknownKeyError) &&
        e instanceof DekboxError, `byte ${i} bit ${bit}`)
    }
  }
  for (let n = 0; n < sealed.length; n++) {
    assert.throws(() => box.decryptSync(sealed.subarray(0, n), { context: CTX, aad: 'row/1' }), DekboxError, `cut at ${n}`)
  }
  await assert.rejects(box.decrypt(sealed.subarray(0, 40), { context: CTX, aad: 'row/1' }), MalformedError)
  assert.throws(() => box.decryptSync(Buffer.from('garbage that is not a message')), MalformedError)
  assert.throws(() => box.decryptSync('dekbox:v1:!!!'), MalformedError)
  assert.throws(() => box.decryptSync(sealed, { context: { tenant: 'other' }, aad: 'row/1' }), AuthenticationError)
  assert.throws(() => box.decryptSync(sealed, { context: CTX, aad: 'row/2' }), AuthenticationError)
  assert.throws(() => box.decryptSync(sealed, { context: CTX }), AuthenticationError)
  await assert.rejects(box.decrypt(sealed, { context: {}, aad: 'row/1' }), AuthenticationError)
  // Another key of the same name cannot open it.
  const uri = keyFile()
  const other = new Box({ keys: { v1: uri } })
  const mine = new Box({ keys: { v1: keyFile() } })
  assert.throws(() => other.decryptSync(mine.encryptSync('x')), AuthenticationError)
  // A key this keyring does not hold.
  assert.throws(() => other.decryptSync(box.encryptSync('x')), UnknownKeyError)
  assert.ok(new UnknownKeyError('m') instanceof ConfigError)
})

test('oversized input is refused before any work', async () => {
  const box = new Box({ key: keyFile(), maxPlaintext: 1000 })
  assert.throws(() => box.encryptSync(Buffer.alloc(1001)), MalformedError)
  await assert.rejects(box.encrypt(Buffer.alloc(5000)), MalformedError)
  await assert.rejects(box.encryptMany([Buffer.alloc(10), Buffer.alloc(1001)]), MalformedError)
  assert.throws(() => box.encryptManySync([Buffer.alloc(10), Buffer.alloc(1001)]), MalformedError)
  assert.equal(box.cacheStats().dataKeysGenerated, 0, 'no data key was made for refused input')
  const big = new Box({ key: keyFile() })
  const sealed = big.encryptSync(Buffer.alloc(2000))
  assert.throws(() => box.decryptSync(sealed), MalformedError)
  assert.equal(box.decryptSync(box.encryptSync(Buffer.alloc(1000, 3))).length, 1000)
})

test('large values, either side of the 1 MiB hand-off to the runtime, come back whole', async () => {
  const box = new Box({ key: keyFile() })
  for (const n of [(1 << 20) - 1, 1 << 20, (1 << 20) + 1, 4 << 20]) {
    const data = Buffer.alloc(n)
    for (let i = 0; i < n; i += 4093) data[i] = i & 0xff
    const [a, b] = await Promise.all([box.encrypt(data, { context: CTX }), box.encrypt(data, { context: CTX, text: true })])
    assert.deepEqual(await box.decrypt(a, { context: CTX }), data)
    assert.deepEqual(await box.decrypt(b, { context: CTX }), data)
    assert.deepEqual(box.decryptSync(a, { context: CTX }), data)
    const t = Buffer.from(a)
    t[t.length - 100] ^= 1
    await assert.rejects(box.decrypt(t, { context: CTX }), AuthenticationError)
  }
  const many = await box.decryptMany(await box.encryptMany([Buffer.alloc(5 << 20, 1), 'x']))
  assert.equal(many[0].length, 5 << 20)
})

test('wrong argument types are TypeErrors that name what came; async forms reject', async () => {
  const box = new Box({ key: keyFile() })
  const bad = [5, null, undefined, {}, [1, 2], true, 10n, Symbol('s'), new Uint16Array(4), () => 1]
  for (const v of bad) {
    assert.throws(() => box.encryptSync(v), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE' && /data must be/.test(e.message))
    await assert.rejects(box.encrypt(v), TypeError)
    await assert.rejects(box.decrypt(v), TypeError)
  }
  assert.throws(() => box.encryptSync('x', 5), /options must be an object, not number/)
  assert.throws(() => box.encryptSync('x', { context: 'tenant=a' }), TypeError)
  assert.throws(() => box.encryptSync('x', { context: { tenant: 5 } }), /context value for "tenant" must be a string, not number/)
  assert.throws(() => box.encryptSync('x', { aad: 5 }), /options.aad must be/)
  assert.throws(() => box.encryptSync('x', { text: 'yes' }), /options.text must be a boolean/)
  assert.throws(() => box.encryptManySync('x'), /items must be an Array, not string/)
  assert.throws(() => box.encryptManySync(['a', 5]), /items\[1\] must be/)
  assert.throws(() => new Box(5), TypeError)
  assert.throws(() => new Box({ key: keyFile(), kee: 1 }), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /unknown Box option "kee"/.test(e.message))
  const hiddenTypo = { key: keyFile() }
  Object.defineProperty(hiddenTypo, 'legacyFallbak', { value: true, enumerable: false })
  assert.throws(() => new Box(hiddenTypo), /unknown Box option "legacyFallbak"/)
  assert.throws(() => new Box({ key: keyFile(), grantTokens: 'x' }), TypeError)
  assert.throws(() => new Box({ key: keyFile(), cache: { maxAge: 'x' } }), TypeError)
  assert.throws(() => new Box({ key: keyFile(), cache: { maxAges: 1 } }), /unknown cache option "maxAges"/)
  assert.throws(() => new Box({ key: keyFile(), cache: { maxAge: -1 } }), InvalidArgumentError)
  assert.throws(() => new Box({ key: keyFile(), maxPlaintext: 1.5 }), InvalidArgumentError)
  assert.throws(() => new Box({ key: keyFile(), keys: { v1: 5 } }), TypeError)
  // A circular options object is read field by field: an unknown option, not a crash.
  const circular = { key: keyFile() }
  circular.self = circular
  assert.throws(() => new Box(circular), /unknown Box option "self"/)
  // Other views of bytes are refused rather than guessed at.
  for (const v of [new ArrayBuffer(4), new DataView(new ArrayBuffer(4)), new Uint8ClampedArray(4), new Int8Array(4)]) {
    assert.throws(() => box.encryptSync(v), TypeError)
  }
  assert.throws(() => new Context(5), TypeError)
  await assert.rejects(box.unwrap(5), TypeError)
  // Not a TypeError: a context key in dekbox's reserved namespace.
  assert.throws(() => box.encryptSync('x', { context: { 'dekbox:purpose': 'a' } }), DekboxError)
})

test('configuration errors are ConfigErrors', () => {
  const saved = process.env.DEKBOX_KEY
  delete process.env.DEKBOX_KEY
  try {
    assert.throws(() => new Box(), (e) => e instanceof ConfigError && /DEKBOX_KEY/.test(e.message))
    assert.throws(() => new Box({ key: 'local:///nonexistent/key' }), ConfigError)
    assert.throws(() => new Box({ key: 'nope://x' }), ConfigError)
    assert.throws(() => new Box({ keys: { a: keyFile(), b: keyFile() } }), ConfigError)
    process.env.DEKBOX_KEY = keyFile()
    assert.equal(new Box().keys.length, 1)
  } finally {
    if (saved === undefined) delete process.env.DEKBOX_KEY
    else process.env.DEKBOX_KEY = saved
  }
})

test('batches: one result per item, aads per item, returnErrors', async () => {
  const box = new Box({ key: keyFile() })
  const items = Array.from({ length: 100 }, (_, i) => `row ${i}`)
  const aads = items.map((_, i) => `users/${i}`)
  for (const text of [false, true]) {
    const sealed = await box.encryptMany(items, { context: CTX, aads, text })
    assert.equal(sealed.length, 100)
    const sync = box.encryptManySync(items, { context: CTX, aads, text })
    const opened = await box.decryptMany(sync, { context: CTX, aads })
    assert.deepEqual(opened.map(String), items)
    assert.deepEqual(box.decryptManySync(sealed, { context: CTX, aads }).map(String), items)
  }
  const sealed = box.encryptManySync(['a', 'b', 'c'], { context: CTX })
  sealed[1] = Buffer.from(sealed[1]).fill(0, 60, 70)
  await assert.rejects(box.decryptMany(sealed, { context: CTX }), AuthenticationError)
  const mixed = await box.decryptMany(sealed, { context: CTX, returnErrors: true })
  assert.equal(mixed[0].toString(), 'a')
  assert.ok(mixed[1] instanceof AuthenticationError)
  assert.equal(mixed[2].toString(), 'c')
  assert.ok(box.decryptManySync(sealed, { context: CTX, returnErrors: true })[1] instanceof AuthenticationError)
  await assert.rejects(box.encryptMany(['a', 'b'], { aads: ['x'] }), DekboxError)
})

test('keyring rotation: rewrap moves values to the primary, in the form given', async () => {
  const v1 = keyFile('v1.key')
  const v2 = keyFile('v2.key')
  const old = new Box({ keys: { v1 } })
  const token = old.encryptSync('rotate me', { context: CTX, text: true })
  const bin = old.encryptSync('rotate me too', { context: CTX })
  const ring = new Box({ keys: { v1, v2 }, primary: 'v2' })
  assert.deepEqual(ring.keys, ['v1', 'v2'])
  assert.equal(ring.primary, 'v2')
  const moved = await ring.rewrap(token, { context: CTX })
  assert.equal(typeof moved, 'string')
  const movedBin = ring.rewrapSync(bin, { context: CTX })
  assert.ok(Buffer.isBuffer(movedBin))
  const onlyV2 = new Box({ keys: { v2 } })
  assert.equal(onlyV2.decryptSync(moved, { context: CTX }).toString(), 'rotate me')
  assert.equal((await onlyV2.decrypt(movedBin, { context: CTX })).toString(), 'rotate me too')
  assert.throws(() => onlyV2.decryptSync(token, { context: CTX }), UnknownKeyError)
  await assert.rejects(ring.rewrap(token, { context: { tenant: 'other' } }), AuthenticationError)
})

test('data keys: generate, unwrap under the same context only', async () => {
  const box = new Box({ key: keyFile() })
  const dk = await box.generateDataKey({ context: CTX })
  assert.equal(dk.plaintext.length, 32)
  assert.deepEqual(await box.unwrap(dk.wrapped, { context: CTX }), dk.plaintext)
  assert.deepEqual(box.unwrapSync(dk.wrapped, { context: CTX }), dk.plaintext)
  await assert.rejects(box.unwrap(dk.wrapped, { context: { tenant: 'b' } }), AuthenticationError)
  const sdk = box.generateDataKeySync()
  assert.notDeepEqual(sdk.plaintext, dk.plaintext)
  // A message's own data key is not a data key unwrap() hands out.
  const sealed = box.encryptSync('x', { context: CTX })
  assert.throws(() => box.unwrapSync(sealed, { context: CTX }), DekboxError)
})

test('cache: one data key for many values; stats; cache: false', async () => {
  const box = new Box({ key: keyFile() })
  for (let i = 0; i < 50; i++) box.encryptSync(`v${i}`, { context: CTX })
  let st = box.cacheStats()
  assert.equal(st.dataKeysGenerated, 1)
  assert.equal(st.encryptHits, 49)
  const nocache = new Box({ key: keyFile(), cache: false })
  for (let i = 0; i < 5; i++) nocache.encryptSync('v', { context: CTX })
  st = nocache.cacheStats()
  assert.equal(st.dataKeysGenerated, 5)
  assert.deepEqual(Object.keys(st).sort(), ['dataKeysGenerated', 'decryptHits', 'decryptMisses', 'encryptHits', 'encryptMisses', 'kmsCalls'])
  const limited = new Box({ key: keyFile(), cache: { maxMessages: 2 } })
  for (let i = 0; i < 6; i++) limited.encryptSync('v')
  assert.equal(limited.cacheStats().dataKeysGenerated, 3)
})

test('contexts: only a genuine Context or a plain object; never silently empty', async () => {
  const box = new Box({ key: keyFile() })
  const sealed = box.encryptSync('x', { context: CTX })
  const fakes = [
    Object.setPrototypeOf(new Box({ key: keyFile() }), Context.prototype), // passes instanceof
    Object.create(Context.prototype),
    new Map([['tenant', 'acme']]),
    new (class Tenant { constructor() { this.tenant = 'acme' } })(),
    [],
    'tenant=acme',
  ]
  for (const fake of fakes) {
    assert.throws(() => box.encryptSync('x', { context: fake }), TypeError)
    assert.throws(() => box.decryptSync(sealed, { context: fake }), TypeError)
    await assert.rejects(box.decrypt(sealed, { context: fake }), TypeError)
  }
  // A Context is recognised by a private field, not by its prototype or symbols.
  assert.deepEqual(Object.getOwnPropertySymbols(new Context(CTX)), [])
  // A null-prototype object is a plain object.
  const bare = Object.assign(Object.create(null), CTX)
  assert.equal(box.decryptSync(sealed, { context: bare }).toString(), 'x')
  assert.throws(() => new Context(new Map()), TypeError)
  // A Context is accepted where entries are: the same entries, shared.
  const c = new Context(CTX)
  assert.deepEqual(new Context(c).toJSON(), CTX)
  assert.equal(box.decryptSync(sealed, { context: new Context(c) }).toString(), 'x')
  assert.equal(util.inspect(Object.create(Context.prototype)), 'Context {}')
})

test('options: a plain object with known names only; own properties only; getters run first', async () => {
  const box = new Box({ key: keyFile() })
  // A misspelt option is an error, not a value sealed under the empty context.
  assert.throws(() => box.encryptSync('x', { contxt: CTX }), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /unknown option "contxt"/.test(e.message))
  await assert.rejects(box.encrypt('x', { contxt: CTX }), TypeError)
  await assert.rejects(box.decryptMany([], { retunErrors: true }), /unknown option "retunErrors"/)
  assert.throws(() => box.unwrapSync(Buffer.alloc(10), { lable: 'v1' }), /unknown option "lable"/)
  // A name another method uses is still refused where it would be dropped.
  await assert.rejects(box.encryptMany(['a'], { context: CTX, aad: 'row' }), /unknown option "aad"/)
  assert.throws(() => box.decryptSync('x', { aads: ['r'] }), /unknown option "aads"/)
  assert.throws(() => box.encryptSync('x', { label: 'v1' }), /unknown option "label"/)
  // One options object serves encrypt and decrypt (decrypt tolerates text),
  // and an unknown name whose value is undefined is harmless.
  const shared = { context: CTX, aad: 'r/9', text: true, typo: undefined }
  assert.equal(box.decryptSync(box.encryptSync('shared', shared), shared).toString(), 'shared')
  // Non-enumerable names count too.
  const hidden = {}
  Object.defineProperty(hidden, 'contxt', { value: CTX, enumerable: false })
  assert.throws(() => box.encryptSync('x', hidden), /unknown option "contxt"/)
  class Opts { get context() { return CTX } }
  assert.throws(() => box.encryptSync('x', new Opts()), /options must be a plain object/)
  // Null-prototype, frozen and proxied plain objects are options like any other.
  const bare = Object.assign(Object.create(null), { context: CTX })
  const sealedBare = box.encryptSync('x', Object.freeze(bare))
  assert.equal(box.decryptSync(sealedBare, new Proxy({ context: CTX }, {})).toString(), 'x')
  // A getter may call back into the box: its result and the outer one are both whole.
  let inner
  const outer = box.encryptSync('outer', { get context() { inner = box.encryptSync('inner', { context: CTX }); return CTX } })
  assert.equal(box.decryptSync(outer, { context: CTX }).toString(), 'outer')
  assert.equal(box.decryptSync(inner, { context: CTX }).toString(), 'inner')
  // Methods work only on a genuine Box (a foreign `this` never reaches native code).
  assert.throws(() => Box.prototype.encryptSync.call({}, 'x'), TypeError)
  assert.throws(() => Box.prototype.decryptSync.call(new Context(CTX), 'x'), TypeError)
  await assert.rejects(Box.prototype.encrypt.call({}, 'x'), TypeError)
  await assert.rejects(Box.prototype.decryptMany.call(Object.create(Box.prototype), []), TypeError)
  assert.equal(util.inspect(Object.create(Box.prototype)), 'Box {}')
  assert.match(util.inspect(box), /^Box \{ keys: /)
  // Subclasses work.
  class TenantBox extends Box {
    seal(v) { return this.encryptSync(v, { context: CTX }) }
  }
  const tb = new TenantBox({ key: keyFile() })
  assert.ok(tb instanceof Box)
  assert.equal(tb.decryptSync(tb.seal('sub'), { context: CTX }).toString(), 'sub')
})

test('decrypted values have memory of their own (not a slice of a shared pool)', async () => {
  const box = new Box({ key: keyFile() })
  for (const n of [1, 64, 1000, 5000]) {
    const sealed = box.encryptSync(Buffer.alloc(n, 1))
    for (const pt of [box.decryptSync(sealed), await box.decrypt(sealed), box.decryptManySync([sealed])[0]]) {
      assert.equal(pt.buffer.byteLength, n)
      assert.equal(pt.byteOffset, 0)
    }
  }
})

test('the process exits by itself once async calls are done (nothing keeps the loop alive)', () => {
  const script = `
    const { Box } = require('dekbox')
    const box = new Box(process.argv[1])
    ;(async () => {
      const s = await Promise.all([box.encrypt(Buffer.alloc(2 << 20)), box.generateDataKey(), box.encryptMany(['a'])])
      await box.decrypt(s[0])
      console.log('done')
    })()
  `
  const started = Date.now()
  const r = spawnSync(process.execPath, ['-e', script, keyFile()], { encoding: 'utf8', timeout: 20000, cwd: process.cwd() })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'done')
  assert.ok(Date.now() - started < 15000)
})

test('options: own properties only, a throwing getter rejects the promise', async () => {
  const box = new Box({ key: keyFile() })
  const sealed = box.encryptSync('x', { aad: 'row/1' })
  Object.prototype.aad = 'row/1' // eslint-disable-line no-extend-native
  Object.prototype.context = { tenant: 'evil' } // eslint-disable-line no-extend-native
  try {
    assert.throws(() => box.decryptSync(sealed, {}), AuthenticationError)
    assert.equal(box.decryptSync(sealed, { aad: 'row/1' }).toString(), 'x')
  } finally {
    delete Object.prototype.aad
    delete Object.prototype.context
  }
  const boom = new Error('from a getter')
  const options = { get context() { throw boom } }
  await assert.rejects(box.encrypt('x', options), (e) => e === boom)
  await assert.rejects(box.decrypt(sealed, options), (e) => e === boom)
  assert.throws(() => box.encryptSync('x', options), (e) => e === boom)
  // And the box works after.
  assert.equal((await box.decrypt(sealed, { aad: 'row/1' })).toString(), 'x')
})

test('contexts: prepared, shared, order-independent, introspectable', () => {
  const box = new Box({ key: keyFile() })
  const c = new Context({ b: '2', a: '1' })
  assert.equal(c.size, 2)
  assert.deepEqual(c.toJSON(), { a: '1', b: '2' })
  const sealed = box.encryptSync('x', { context: c })
  assert.equal(box.decryptSync(sealed, { context: { a: '1', b: '2' } }).toString(), 'x')
  // Only own, enumerable, string-keyed entries count.
  const proto = { a: '1', b: '2' }
  Object.defineProperty(proto, 'hidden', { value: 'no', enumerable: false })
  proto[Symbol('s')] = 'no'
  assert.equal(box.decryptSync(sealed, { context: proto }).toString(), 'x')
})

test('errors: one class per code, stable codes, nothing secret in messages', () => {
  for (const [code, cls] of Object.entries(errorsByCode)) {
    const e = new cls('m')
    assert.equal(e.code, code)
    assert.match(code, /^ERR_DEKBOX_[A-Z_]+$/)
    assert.ok(e instanceof DekboxError && e instanceof Error)
    assert.equal(e.name, cls.name)
    assert.equal(typeof e.retryable, 'boolean')
  }
  assert.equal(errorsByCode.ERR_DEKBOX_KMS_THROTTLED.retryable, true)
  assert.ok(new InvalidArgumentError('x') instanceof DekboxError)
  // Known key bytes never appear in an error.
  const uri = keyFile()
  const keyB64 = readFileSync(new URL(uri).pathname, 'utf8').trim()
  const keyBytes = Buffer.from(keyB64, 'base64')
  const box = new Box({ key: uri })
  const dk = box.generateDataKeySync({ context: CTX })
  const messages = []
  for (const f of [
    () => box.decryptSync(box.encryptSync('x', { context: CTX }), { context: {} }),
    () => box.decryptSync(Buffer.from('junk')),
    () => box.unwrapSync(dk.wrapped, { context: {} }),
    () => new Box({ key: uri, kee: keyB64 }),
    () => new Box(keyB64), // the key pasted where its URI belongs
  ]) {
    try { f() } catch (e) { messages.push(`${e.name} ${e.message} ${e.stack} ${JSON.stringify(e)}`) }
  }
  assert.equal(messages.length, 5)
  for (const m of messages) {
    for (const secret of [keyB64, keyBytes.toString('hex'), dk.plaintext.toString('hex'), dk.plaintext.toString('base64')]) {
      assert.ok(!m.includes(secret), m)
    }
  }
})

test('many concurrent async calls on one box', async () => {
  const box = new Box({ key: keyFile() })
  const values = Array.from({ length: 2000 }, (_, i) => Buffer.alloc(i % 9000, i % 256))
  const sealed = await Promise.all(values.map((v) => box.encrypt(v, { context: CTX })))
  const opened = await Promise.all(sealed.map((s) => box.decrypt(s, { context: CTX })))
  opened.forEach((o, i) => assert.deepEqual(o, values[i]))
})

test('an option getter that detaches the data buffer cannot pull it out from under a call', async () => {
  const box = new Box({ key: keyFile() })
  for (const form of ['sync', 'async']) {
    const buf = new Uint8Array(1 << 16).fill(7)
    const options = {
      get context() {
        structuredClone(buf.buffer, { transfer: [buf.buffer] }) // detaches buf
        return { tenant: 'a' }
      },
      get aad() {
        return 'r/1'
      },
    }
    const sealed = form === 'sync' ? box.encryptSync(buf, options) : await box.encrypt(buf, options)
    // The options were read first: the call saw the buffer already detached (empty).
    assert.equal(buf.byteLength, 0)
    assert.equal(box.decryptSync(sealed, { context: { tenant: 'a' }, aad: 'r/1' }).length, 0)
  }
  const sealed = box.encryptSync(Buffer.alloc(4096, 1))
  const copy = new Uint8Array(sealed)
  const opts = { get context() { structuredClone(copy.buffer, { transfer: [copy.buffer] }); return {} } }
  assert.throws(() => box.decryptSync(copy, opts), MalformedError)
})

test('views of a SharedArrayBuffer are refused (another thread could change them mid-call)', async () => {
  const box = new Box({ key: keyFile() })
  const shared = new Uint8Array(new SharedArrayBuffer(64))
  assert.throws(() => box.encryptSync(shared), (e) => e instanceof TypeError && /SharedArrayBuffer/.test(e.message))
  await assert.rejects(box.decrypt(shared), TypeError)
  assert.throws(() => box.encryptSync('x', { aad: shared }), TypeError)
})

test('each result is its own Buffer: later calls never change an earlier one', async () => {
  const box = new Box({ key: keyFile() })
  const sealed = [box.encryptSync('first'), await box.encrypt('second'), box.encryptSync(Buffer.alloc(3000, 7))]
  const copies = sealed.map((s) => Buffer.from(s))
  const opened = [box.decryptSync(sealed[0]), await box.decrypt(sealed[1]), box.decryptSync(sealed[2])]
  sealed.forEach((s, i) => assert.deepEqual(s, copies[i]))
  assert.equal(opened[0].toString(), 'first')
  assert.equal(opened[1].toString(), 'second')
  assert.deepEqual(opened[2], Buffer.alloc(3000, 7))
  opened[0].fill(0)
  assert.equal(box.decryptSync(sealed[0]).toString(), 'first')
})

test('the native functions refuse anything but their own engine and contexts', () => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve('dekbox')
  require('dekbox')
  const native = require.cache[entry].children.find((m) => /native\.js$/.test(m.id)).exports
  const box = new Box({ key: keyFile() })
  const ctx = new Context(CTX)
  for (const handle of [{}, null, 5, native._prepareContext(CTX)]) {
    assert.throws(() => native._encryptSync(handle, 'x'), (e) => e instanceof TypeError && /not a dekbox Box/.test(e.message))
  }
  const engine = native._open({ key: keyFile() })
  assert.throws(() => native._encryptSync(engine, 'x', engine), /not a genuine Context/)
  assert.ok(Buffer.isBuffer(native._encryptSync(engine, 'x', native._prepareContext(CTX))))
  assert.ok(box && ctx)
})

test('loaded again, the package keeps one API; a Context from another copy is refused', () => {
  const require = createRequire(import.meta.url)
  const entry = require.resolve('dekbox')
  const saved = require.cache[entry]
  delete require.cache[entry]
  const again = require('dekbox')
  require.cache[entry] = saved
  assert.equal(again.Context, Context, 'the same native module keeps the first API')
  // A second installed copy (another path, another native module).
  const copy = mkdtempSync(join(tmpdir(), 'dekbox-copy-'))
  cpSync(dirname(entry), copy, { recursive: true })
  const other = require(join(copy, 'index.js'))
  assert.notEqual(other.Context, Context)
  const box = new Box({ key: keyFile() })
  assert.throws(() => box.encryptSync('x', { context: new other.Context(CTX) }), /another copy of dekbox/)
  const otherBox = new other.Box({ key: keyFile() })
  assert.throws(() => otherBox.decryptSync('x', { context: new Context(CTX) }), TypeError)
})

test('local://env/NAME keys', () => {
  process.env.DEKBOX_NODE_TEST_KEY = randomBytes(32).toString('base64')
  try {
    const a = new Box('local://env/DEKBOX_NODE_TEST_KEY')
    const b = new Box({ key: 'local://env/DEKBOX_NODE_TEST_KEY' })
    assert.equal(b.decryptSync(a.encryptSync('env key')).toString(), 'env key')
  } finally {
    delete process.env.DEKBOX_NODE_TEST_KEY
  }
})
