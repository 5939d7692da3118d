// Root keys from Node: compact and deterministic values and blind indexes,
// byte for byte the vectors (tests/vectors/root-v1.json), the CLI and the
// Python package; bad input with typed errors; promise and sync forms; one
// KMS unwrap per root against moto.
import test from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import {
  Box, AuthenticationError, MalformedError, ConfigError, UnknownKeyError, ApiMisuseError, SLOW_INDEX,
} from 'dekbox'
import { cli, kms, need, repo } from './helpers.mjs'

const vectors = JSON.parse(readFileSync(join(repo(), 'tests/vectors/root-v1.json'), 'utf8'))
const TOKEN = vectors.root_token
const EMAIL = 'ada@example.com!!'
const CTX = { tenant: 'acme' }
const box = (extra = {}) => new Box({ key: 'insecure-test-key', roots: { r1: TOKEN }, ...extra })
const sealedOf = (v) => (v.form === 'text' ? v.sealed : Buffer.from(v.sealed, 'hex'))

test('vectors: every value opens, deterministic values and indexes are reproduced', async () => {
  const b = box()
  for (const v of vectors.values) {
    const o = { column: v.column, context: v.context, aad: Buffer.from(v.aad, 'hex') }
    assert.equal(b.decryptCompactSync(sealedOf(v), o).toString('hex'), v.plaintext, v.name)
    assert.equal((await b.decryptCompact(sealedOf(v), o)).toString('hex'), v.plaintext, v.name)
    if (v.mode === 'deterministic') {
      const again = b.encryptCompactSync(Buffer.from(v.plaintext, 'hex'), { ...o, deterministic: true, text: v.form === 'text' })
      assert.deepEqual(again, sealedOf(v), v.name)
    }
  }
  for (const v of vectors.blind_indexes) {
    const slow = v.argon2id ? [v.argon2id.t_cost, v.argon2id.m_cost] : false
    const o = { column: v.column, context: v.context, bits: v.bits, trim: v.trim, casefold: v.casefold, slow }
    assert.equal(b.blindIndexSync(Buffer.from(v.value, 'hex'), o), v.index, v.name)
    assert.equal(await b.blindIndex(Buffer.from(v.value, 'hex'), o), v.index, v.name)
  }
  assert.equal(b.cacheStats().kmsCalls, 1)
  assert.deepEqual([b.roots, b.primaryRoot], [['r1'], 'r1'])
})

test('compact values: 97 characters, bound to context, column and aad; same bytes as the CLI and Python', async () => {
  const b = box()
  const v = await b.encryptCompact(EMAIL, { column: 'users.email', context: CTX, aad: 'users/42', text: true })
  assert.equal(typeof v, 'string')
  assert.equal(v.length, 97)
  assert.equal((await b.decryptCompact(v, { column: 'users.email', context: CTX, aad: 'users/42' })).toString(), EMAIL)
  for (const change of [{ context: { tenant: 'globex' } }, { column: 'users.phone' }, { aad: 'users/43' }]) {
    const o = { column: 'users.email', context: CTX, aad: 'users/42', ...change }
    await assert.rejects(b.decryptCompact(v, o), AuthenticationError)
    assert.throws(() => b.decryptCompactSync(v, o), AuthenticationError)
  }
  const det = b.encryptCompactSync(EMAIL, { column: 'users.email', context: CTX, deterministic: true, text: true })
  const fromCli = execFileSync(cli(), ['encrypt', '--key', 'insecure-test-key', '--root', `r1=${TOKEN}`, '--mode',
    'deterministic', '--column', 'users.email', '--context', 'tenant=acme'], { input: EMAIL, stdio: ['pipe', 'pipe', 'ignore'] })
  assert.equal(fromCli.toString().trim(), det)
  const py = execFileSync(need('DEKBOX_PYTHON'), ['-c', `
import dekbox, sys
b = dekbox.Box('insecure-test-key', roots={'r1': sys.argv[1]})
print(b.encrypt_compact('${EMAIL}', column='users.email', context={'tenant': 'acme'}, deterministic=True, text=True))
print(b.blind_index(' ADA@example.com!! ', column='users.email', context={'tenant': 'acme'}, bits=64, trim=True, casefold=True))
`, TOKEN]).toString().split('\n')
  assert.equal(py[0], det)
  assert.equal(py[1], b.blindIndexSync(EMAIL, { column: 'users.email', context: CTX, bits: 64, trim: true, casefold: true }))
  // Randomized by default: two sealings differ.
  assert.notDeepEqual(b.encryptCompactSync(EMAIL, { column: 'c' }), b.encryptCompactSync(EMAIL, { column: 'c' }))
})

test('bad input: typed errors, nothing opens that should not', async () => {
  const b = box()
  const v = b.encryptCompactSync(EMAIL, { column: 'c', context: CTX })
  for (let i = 0; i < v.length; i++) {
    const bad = Buffer.from(v)
    bad[i] ^= 1
    assert.throws(() => b.decryptCompactSync(bad, { column: 'c', context: CTX }),
      (e) => e instanceof AuthenticationError || e instanceof MalformedError || e instanceof UnknownKeyError, `byte ${i}`)
  }
  for (let n = 0; n < v.length; n++) {
    assert.throws(() => b.decryptCompactSync(v.subarray(0, n), { column: 'c', context: CTX }),
      (e) => e instanceof AuthenticationError || e instanceof MalformedError || e instanceof UnknownKeyError, `${n} bytes`)
  }
  assert.throws(() => box({ maxPlaintext: 16 }).encryptCompactSync(EMAIL, { column: 'c' }), MalformedError)
  const impostor = new Box({ key: 'insecure-test-key', roots: { r1: b.createRootSync('r1') } })
  assert.throws(() => impostor.decryptCompactSync(v, { column: 'c', context: CTX }), AuthenticationError)
  assert.throws(() => new Box('insecure-test-key').encryptCompactSync('x', { column: 'c' }), ConfigError)
  assert.throws(() => b.decryptSync(v, { context: CTX }), /decrypt_compact|root-keyed/)
  assert.throws(() => b.encryptCompactSync('x', {}), /column/)
  assert.throws(() => b.encryptCompactSync('x', { column: 'c', colum: 'd' }), /unknown option/)
  assert.throws(() => b.blindIndexSync('x', { column: 'c', bits: 0 }), ApiMisuseError)
  assert.throws(() => b.blindIndexSync('x', { column: 'c', slow: 'yes' }), TypeError)
  assert.throws(() => b.blindIndexSync('x', { column: 'c', slow: [0, 0] }), ApiMisuseError)
  assert.throws(() => b.blindIndexSync('x', { column: 'c', slow: [1.5, 64] }), /whole number/)
  assert.throws(() => new Box({ key: 'insecure-test-key', roots: { r1: 'dekbox:root:v1:r1:AAAA' } }), ConfigError)
  await assert.rejects(b.encryptCompact('x', { column: 'c', context: { 'dekbox:x': 'y' } }), MalformedError)
})

test('blind index options: bits, hex or Buffer, normalize hook, Argon2id', async () => {
  const b = box()
  assert.equal(b.blindIndexSync(EMAIL, { column: 'c' }).length, 64)
  assert.equal(b.blindIndexSync(EMAIL, { column: 'c', bits: 12 }).length, 4)
  assert.ok(Buffer.isBuffer(await b.blindIndex(EMAIL, { column: 'c', hex: false })))
  assert.equal(b.blindIndexSync(' A ', { column: 'c', normalize: (s) => s.trim() }), b.blindIndexSync('A', { column: 'c' }))
  const slow = b.blindIndexSync('1984', { column: 'year', slow: [1, 64] })
  assert.notEqual(slow, b.blindIndexSync('1984', { column: 'year' }))
  assert.deepEqual(SLOW_INDEX, [3, 4096])
  assert.equal(await b.blindIndex('1984', { column: 'year', slow: true, bits: 32 }), b.blindIndexSync('1984', { column: 'year', slow: SLOW_INDEX, bits: 32 }))
})

test('AWS KMS (moto): a root is created with one call and unwrapped once per Box', async () => {
  process.env.AWS_ACCESS_KEY_ID = 'testing'
  process.env.AWS_SECRET_ACCESS_KEY = 'testing'
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  const url = need('DEKBOX_TEST_MOTO_URL')
  const arn = (await kms(url, 'CreateKey', { Description: 'node roots' })).KeyMetadata.Arn
  const creator = new Box({ key: `aws-kms://${arn}`, endpoint: url })
  const token = await creator.createRoot('prod')
  assert.equal(creator.cacheStats().kmsCalls, 1)
  const b = new Box({ key: `aws-kms://${arn}`, endpoint: url, roots: { prod: token } })
  const values = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    b.encryptCompact(`user${i}@example.com`, { column: 'users.email', context: CTX, deterministic: true, text: true })))
  for (let i = 0; i < 100; i++) {
    assert.equal(b.decryptCompactSync(values[i], { column: 'users.email', context: CTX }).toString(), `user${i}@example.com`)
  }
  assert.equal(b.cacheStats().kmsCalls, 1, 'one unwrap, shared by 100 concurrent first calls')
})
