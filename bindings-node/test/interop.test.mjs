// Byte identity: the format-v1 vectors open here, and values cross to and
// from the Rust CLI and the Python package.
import test from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { Box, errorsByCode, AuthenticationError } from 'dekbox'
import { repo, keyFile, cli, need } from './helpers.mjs'

const vectors = JSON.parse(readFileSync(join(repo(), 'tests', 'vectors', 'format-v1.json'), 'utf8'))
// The vectors name insecure-test-key by URI and as label v1.
const vectorBox = () => new Box({ keys: { v1: 'insecure-test-key' }, acceptJson: true })

test('known-answer vectors open byte for byte', async () => {
  assert.ok(vectors.vectors.length >= 5)
  for (const v of vectors.vectors) {
    const box = vectorBox()
    const aad = Buffer.from(v.aad, 'hex')
    const pt = Buffer.from(v.plaintext, 'hex')
    if (v.form === 'json') {
      assert.deepEqual(box.decryptSync(v.json, { context: v.context, aad }), pt, v.name)
      continue
    }
    assert.deepEqual(box.decryptSync(Buffer.from(v.binary, 'hex'), { context: v.context, aad }), pt, v.name)
    assert.deepEqual(await box.decrypt(v.text, { context: v.context, aad }), pt, v.name)
    // A message's data key is wrapped under the context plus dekbox:purpose,
    // so unwrap() (the context alone) refuses it.
    assert.throws(() => box.unwrapSync(Buffer.from(v.wrapped_dek, 'hex'), { context: v.context, label: 'v1' }), AuthenticationError)
  }
})

test('invalid vectors give their error code', () => {
  for (const v of vectors.invalid) {
    assert.throws(
      () => vectorBox().decryptSync(Buffer.from(v.binary, 'hex'), { context: v.context, aad: Buffer.from(v.aad, 'hex') }),
      (e) => e instanceof errorsByCode[`ERR_DEKBOX_${v.error}`] && e.code === `ERR_DEKBOX_${v.error}`,
      v.name,
    )
  }
})

test('Node ↔ CLI', () => {
  const key = keyFile()
  const box = new Box(key)
  const token = box.encryptSync('from node', { context: { tenant: 'a' }, aad: 'r/1', text: true })
  const out = execFileSync(cli(), ['decrypt', '--key', key, '--context', 'tenant=a', '--aad', 'r/1'], { input: token })
  assert.equal(out.toString(), 'from node')
  const sealed = execFileSync(cli(), ['encrypt', '--key', key, '--context', 'tenant=a', '--format', 'binary'], { input: 'from rust' })
  assert.equal(box.decryptSync(sealed, { context: { tenant: 'a' } }).toString(), 'from rust')
})

test('Node ↔ Python', () => {
  const python = need('DEKBOX_PYTHON')
  const key = keyFile()
  const box = new Box(key)
  const token = box.encryptSync('from node', { context: { tenant: 'acme' }, aad: 'r/1', text: true })
  const script = "import dekbox,sys; b=dekbox.Box(sys.argv[1]); " +
    "print(b.decrypt(sys.argv[2], context={'tenant':'acme'}, aad=b'r/1').decode()); " +
    "print(b.encrypt('from python', context={'tenant':'acme'}, aad=b'r/2', text=True))"
  const [fromNode, pyToken] = execFileSync(python, ['-c', script, key, token]).toString().trim().split('\n')
  assert.equal(fromNode, 'from node')
  assert.equal(box.decryptSync(pyToken, { context: { tenant: 'acme' }, aad: 'r/2' }).toString(), 'from python')
  assert.throws(() => box.decryptSync(pyToken, { context: { tenant: 'acme' }, aad: 'r/1' }), AuthenticationError)
})

test('messageDataKey hands out exactly the message key, as the CLI and Python do', async () => {
  const box = vectorBox()
  for (const v of vectors.vectors.filter((v) => v.form !== 'json')) {
    if (Object.keys(v.context).length === 0) {
      // A key for the empty context would open every context-less message.
      await assert.rejects(box.messageDataKey(v.text, { context: v.context }), errorsByCode.ERR_DEKBOX_API_MISUSE)
      continue
    }
    const token = await box.messageDataKey(v.text, { context: v.context })
    assert.equal(box.messageDataKeySync(Buffer.from(v.binary, 'hex'), { context: v.context }), token)
    const raw = Buffer.from(token.slice('dekbox:key:v1:'.length), 'base64url')
    assert.deepEqual(raw.subarray(0, 4), Buffer.from('DKK\x01', 'latin1'))
    assert.equal(raw.subarray(4, 36).toString('hex'), v.dek, v.name)
    assert.throws(() => box.messageDataKeySync(v.text, { context: { someone: 'else' } }), AuthenticationError)
  }
  await assert.rejects(box.messageDataKey('not sealed', { context: { user: '1' } }), errorsByCode.ERR_DEKBOX_MALFORMED)
  assert.throws(() => box.messageDataKeySync('x', { context: { user: '1' }, aad: 'row' }), TypeError)
  assert.throws(() => box.messageDataKeySync(v => v), TypeError)
  assert.throws(() => box.messageDataKeySync('x', { contxt: {} }), TypeError)
  const up = Buffer.from((await box.newMessageDataKey({ context: { user: '42' } })).slice(14), 'base64url')
  assert.ok(up.length > 41)
  assert.throws(() => box.newMessageDataKeySync(), errorsByCode.ERR_DEKBOX_API_MISUSE)
  // The same message's token from the CLI and from Python.
  const key = keyFile()
  const sealed = new Box(key).encryptSync('x', { context: { user: '42' }, text: true })
  const fromCli = execFileSync(cli(), ['message-key', '--key', key, '--context', 'user=42'], { input: sealed }).toString().trim()
  const fromPython = execFileSync(need('DEKBOX_PYTHON'), ['-c',
    'import sys, dekbox; print(dekbox.Box(sys.argv[1]).message_data_key(sys.argv[2], context={"user": "42"}))', key, sealed,
  ]).toString().trim()
  const mine = await new Box(key).messageDataKey(sealed, { context: { user: '42' } })
  assert.equal(fromCli, mine)
  assert.equal(fromPython, mine)
})
