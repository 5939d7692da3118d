// End-to-end: the example page (examples/browser) in headless Chromium,
// driven by playwright-core against Debian's /usr/bin/chromium, with the
// dekbox-browser package as npm installed it and the example backend running
// on the Python wheel. Screenshots land in $DEKBOX_ARTIFACTS.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { createServer, request } from 'node:http'
import { mkdirSync, mkdtempSync, writeFileSync, copyFileSync, symlinkSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

function need(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run ./scripts/test.sh browser, which sets it`)
  return v
}

const here = dirname(fileURLToPath(import.meta.url))
const artifacts = need('DEKBOX_ARTIFACTS')
mkdirSync(artifacts, { recursive: true })
let browser, server, base, keyUri

/** Starts a child that prints "listening on URL" and returns that URL. */
function startListening(cmd, args, env) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = out.match(/listening on (\S+)/)
      if (m) resolve([child, m[1].replace(/\/$/, '')])
    })
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)))
  })
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dekbox-browser-'))
  const keyPath = join(dir, 'app.key')
  writeFileSync(keyPath, randomBytes(32).toString('base64') + '\n', { mode: 0o600 })
  keyUri = `local://${keyPath}`
  ;[server, base] = await startListening(need('DEKBOX_PYTHON'), [
    join(need('DEKBOX_REPO'), 'examples/browser/server.py'),
    '--port', '0', '--pkg', need('DEKBOX_BROWSER_PKG'), '--key', keyUri,
  ])
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  })
})

after(async () => {
  await browser?.close()
  server?.kill()
})

async function load(page, url) {
  await page.goto(url)
  await page.waitForSelector('body[data-done]', { timeout: 30_000 })
  return page.evaluate(() => document.body.dataset.done)
}

test('the example page opens a note sealed by Python and seals a reply Python opens', async () => {
  const page = await browser.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(e))
  assert.equal(await load(page, `${base}/`), 'yes', await page.textContent('#error'))
  assert.equal(await page.textContent('#note'), 'Meet at the north gate at seven.')
  assert.equal(await page.textContent('#reply'), 'Written in the browser.')
  assert.deepEqual(errors, [])
  await page.screenshot({ path: join(artifacts, 'browser-example.png'), fullPage: true })
  await page.close()
})

test('a tampered note or a wrong context shows the authentication error, not plaintext', async () => {
  const note = await (await fetch(`${base}/api/note`)).json()
  const bytes = Buffer.from(note.message.slice('dekbox:v1:'.length), 'base64url')
  bytes[bytes.length - 1] ^= 1
  const cases = [
    { ...note, message: 'dekbox:v1:' + bytes.toString('base64url') },
    { ...note, context: { user: '43' } },
    { ...note, aad: 'notes/9' },
  ]
  for (const body of cases) {
    const page = await browser.newPage()
    await page.route('**/api/note', (route) => route.fulfill({ json: body }))
    assert.equal(await load(page, `${base}/`), 'error')
    assert.match(await page.textContent('#error'), /^AuthenticationError: .*\(ERR_DEKBOX_AUTHENTICATION\)$/)
    assert.equal(await page.textContent('#note'), '')
    await page.close()
  }
  // A truncated message is malformed.
  const page = await browser.newPage()
  await page.route('**/api/note', (route) => route.fulfill({ json: { ...note, message: note.message.slice(0, 60) } }))
  assert.equal(await load(page, `${base}/`), 'error')
  assert.match(await page.textContent('#error'), /ERR_DEKBOX_MALFORMED/)
  await page.close()
})

/**
 * A CORS front for moto, as a real KMS endpoint answers a page: preflights
 * and the Access-Control-* headers; everything else (the signed Host
 * included) passes through untouched.
 */
function corsProxy(upstream) {
  const up = new URL(upstream)
  const cors = (req) => ({
    'access-control-allow-origin': req.headers.origin || '*',
    'access-control-allow-methods': 'POST, OPTIONS',
    'access-control-allow-headers':
      'authorization, content-type, x-amz-date, x-amz-target, x-amz-security-token, x-amz-content-sha256, x-amz-user-agent',
    'access-control-expose-headers': 'x-amzn-requestid',
    'access-control-max-age': '600',
  })
  const calls = []
  const srv = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors(req))
      return res.end()
    }
    calls.push(req.headers['x-amz-target'])
    const fwd = request(
      { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode, { ...r.headers, ...cors(req) })
        r.pipe(res)
      },
    )
    fwd.on('error', (e) => { res.writeHead(502); res.end(String(e)) })
    req.pipe(fwd)
  })
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve([srv, calls])))
}

test('AWS KMS from inside the browser: signed requests through a CORS front to moto', async () => {
  const [akid, secret] = need('DEKBOX_TEST_MOTO_AUTH_KEY').split(' ')
  const arn = need('DEKBOX_TEST_BROWSER_KMS_ARN')
  const [proxy, calls] = await corsProxy(need('DEKBOX_TEST_MOTO_AUTH_URL'))
  try {
    const endpoint = `http://127.0.0.1:${proxy.address().port}`
    const frag = new URLSearchParams({ key: `aws-kms://${arn}`, endpoint, akid, secret })
    const page = await browser.newPage()
    assert.equal(await load(page, `${base}/kms.html#${frag}`), 'yes', await page.textContent('#error'))
    assert.equal(await page.textContent('#plain'), 'sealed in the browser with AWS KMS')
    assert.equal(await page.textContent('#wrong'), 'ERR_DEKBOX_AUTHENTICATION')
    const stats = JSON.parse(await page.textContent('#stats'))
    // 21 encryptions and 21 decryptions under one context: one data key.
    assert.equal(stats.encryptHits + stats.encryptMisses, 21)
    assert.equal(stats.dataKeysGenerated, 1)
    assert.ok(stats.kmsCalls <= 3, JSON.stringify(stats))
    assert.deepEqual([...new Set(calls)].sort(), ['TrentService.Decrypt', 'TrentService.GenerateDataKey'])
    await page.screenshot({ path: join(artifacts, 'browser-kms.png'), fullPage: true })
    // What the browser sealed opens in Python with the same key.
    const sealed = await page.textContent('#sealed')
    const opened = execFileSync(need('DEKBOX_PYTHON'), ['-c', `
import sys, dekbox
box = dekbox.Box(sys.argv[1], endpoint=sys.argv[2], region="us-east-1")
sys.stdout.write(box.decrypt(sys.argv[3], context={"tenant": "acme"}, aad=b"rows/1").decode())
`, `aws-kms://${arn}`, need('DEKBOX_TEST_MOTO_AUTH_URL'), sealed], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: akid, AWS_SECRET_ACCESS_KEY: secret, AWS_EC2_METADATA_DISABLED: 'true' },
    }).toString()
    assert.equal(opened, 'sealed in the browser with AWS KMS')
    await page.close()
  } finally {
    proxy.close()
  }
})

test('misuse from JavaScript is an error, never a leak: keys stay freeable and nothing secret stays in the module', async () => {
  const page = await browser.newPage()
  assert.equal(await load(page, `${base}/`), 'yes')
  const { key: token, context } = await (await fetch(`${base}/api/upload-key`)).json()
  const out = await page.evaluate(async ({ token, context }) => {
    const m = await import('/pkg/web/dekbox.js')
    const wasm = await m.default()
    const code = (f) => { try { f(); return 'no error' } catch (e) { return `${e.name}${e.code ? ':' + e.code : ''}` } }
    const b64 = token.slice('dekbox:key:v1:'.length).replace(/-/g, '+').replace(/_/g, '/')
    const dek = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).slice(4, 36)
    const inMemory = (needle) => {
      const hay = new Uint8Array(wasm.memory.buffer)
      outer: for (let i = 0; i + needle.length <= hay.length; i++) {
        for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
        return true
      }
      return false
    }
    const r = {}
    r.takeString = code(() => m.DataKey.take('x'.repeat(32)))
    const dk = m.DataKey.from(token)
    r.openManyNull = code(() => dk.openMany(null))
    r.openManyAsyncUndefined = await dk.openManyAsync(undefined).then(() => 'resolved', (e) => `rejected ${e.name}`)
    r.throwingGetter = code(() => dk.seal('x', { get context() { throw new RangeError('boom') } }))
    r.mapContext = code(() => dk.seal('x', { context: new Map([['user', '42']]) }))
    class Options { get context() { return { user: '42' } } }
    r.classOptions = code(() => dk.seal('x', new Options()))
    r.trap = code(() => dk.seal('x', new Proxy({}, { ownKeys() { throw new RangeError('trap') } })))
    const revocable = Proxy.revocable({}, {})
    revocable.revoke()
    r.revokedOptions = code(() => dk.seal('x', revocable.proxy))
    r.revokedMessages = code(() => dk.openMany(revocable.proxy))
    r.proxiedBytes = code(() => dk.seal(new Proxy(new Uint8Array(4), {}), { context }))
    class Lying extends Uint8Array { get length() { throw new RangeError('length') } }
    const lying = new Lying([1, 2, 3])
    r.subclassBytes = new TextDecoder().decode(dk.open(dk.seal(lying, { context }), { context })) === '\x01\x02\x03'
    r.fakeArrayBuffer = code(() => dk.seal(Object.create(ArrayBuffer.prototype), { context }))
    const takeMe = new Lying(new TextEncoder().encode(token))
    r.takeSubclass = code(() => m.DataKey.take(takeMe).free())
    r.takeWiped = takeMe.every === Uint8Array.prototype.every && Uint8Array.prototype.every.call(takeMe, (b) => b === 0)
    const secret = new TextEncoder().encode('plaintext marker 7f3a9c')
    const sealed = dk.seal(secret, { context })
    r.openWithThrowingGetter = code(() => m.openWithDataKey(sealed, token, { context, get aad() { throw new RangeError('boom') } }))
    const opened = await dk.openAsync(sealed, { context })
    r.roundTrip = new TextDecoder().decode(dk.open(sealed, { context })) + '|' + new TextDecoder().decode(opened)
    m.openWithDataKey(sealed, token, { context })
    // The scan finds the key while a DataKey holds it (so it can fail).
    r.dekWhileLive = inMemory(dek)
    r.freeAfterMisuse = code(() => dk.free())
    r.dekInMemory = inMemory(dek)
    r.plaintextInMemory = inMemory(secret)
    return r
  }, { token, context })
  assert.deepEqual(out, {
    takeString: 'TypeError:ERR_INVALID_ARG_TYPE',
    openManyNull: 'TypeError:ERR_INVALID_ARG_TYPE',
    openManyAsyncUndefined: 'rejected TypeError',
    throwingGetter: 'RangeError',
    mapContext: 'TypeError:ERR_INVALID_ARG_TYPE',
    classOptions: 'TypeError:ERR_INVALID_ARG_TYPE',
    trap: 'RangeError',
    revokedOptions: 'TypeError',
    revokedMessages: 'TypeError',
    proxiedBytes: 'TypeError:ERR_INVALID_ARG_TYPE',
    subclassBytes: true,
    fakeArrayBuffer: 'TypeError:ERR_INVALID_ARG_TYPE',
    takeSubclass: 'no error',
    takeWiped: true,
    openWithThrowingGetter: 'RangeError',
    roundTrip: 'plaintext marker 7f3a9c|plaintext marker 7f3a9c',
    dekWhileLive: true,
    freeAfterMisuse: 'no error',
    dekInMemory: false,
    plaintextInMemory: false,
  })
  await page.close()
})

test('Web Crypto failures: a failed key import is retried, and only OperationError means authentication', async () => {
  const page = await browser.newPage()
  assert.equal(await load(page, `${base}/`), 'yes')
  const { key: token, context } = await (await fetch(`${base}/api/upload-key`)).json()
  const out = await page.evaluate(async ({ token, context }) => {
    const m = await import('/pkg/web/dekbox.js')
    await m.default()
    const dk = m.DataKey.from(token)
    const sealed = dk.seal('hello', { context })
    const subtle = crypto.subtle
    const importKey = subtle.importKey
    const decrypt = subtle.decrypt
    const settle = (p) => p.then((b) => new TextDecoder().decode(b), (e) => `${e.name}${e.code ? ':' + e.code : ''}`)
    const r = {}
    subtle.importKey = () => Promise.reject(new DOMException('no', 'NotSupportedError'))
    r.importFails = await settle(dk.openAsync(sealed, { context }))
    subtle.importKey = importKey
    r.importRetried = await settle(dk.openAsync(sealed, { context }))
    subtle.decrypt = () => Promise.reject(new DOMException('busy', 'QuotaExceededError'))
    r.otherRejection = await settle(dk.openAsync(sealed, { context }))
    r.otherRejectionMany = await dk.openManyAsync([sealed], { context }).then(() => 'resolved', (e) => e.name)
    subtle.decrypt = decrypt
    r.wrongContext = await settle(dk.openAsync(sealed, { context: { user: 'someone else' } }))
    dk.free()
    return r
  }, { token, context })
  assert.deepEqual(out, {
    importFails: 'NotSupportedError:9', // DOMException's own code
    importRetried: 'hello',
    otherRejection: 'QuotaExceededError:22',
    otherRejectionMany: 'QuotaExceededError',
    wrongContext: 'AuthenticationError:ERR_DEKBOX_AUTHENTICATION',
  })
  await page.close()
})

test('Box: credentials are required, checked field by field, and never quoted in errors', async () => {
  const page = await browser.newPage()
  assert.equal(await load(page, `${base}/`), 'yes')
  const out = await page.evaluate(async () => {
    const k = await import('/pkg/kms/dekbox.js')
    await k.default()
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
    const key = 'aws-kms://arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000'
    const attempt = (o) => { try { new k.Box(o); return 'constructed' } catch (e) { return `${e.name}|${e.message.includes(secret) ? 'QUOTED' : 'clean'}` } }
    return {
      none: attempt({ key }),
      asString: attempt({ key, credentials: JSON.stringify({ accessKeyId: 'AKIA', secretAccessKey: secret }) }),
      misspelt: attempt({ key, credentials: { accessKeyId: 'AKIA', secretAccesKey: secret } }),
      badKeyType: attempt({ key: 5, credentials: { accessKeyId: 'AKIA', secretAccessKey: secret } }),
      keysAsString: attempt({ keys: secret, credentials: { accessKeyId: 'AKIA', secretAccessKey: secret } }),
      sdkShape: attempt({ key, credentials: { accessKeyId: 'AKIA', secretAccessKey: secret, sessionToken: 't', expiration: new Date(), identityId: 'eu-west-1:x', $source: {} } }),
    }
  })
  assert.deepEqual(out, {
    none: 'TypeError|clean',
    asString: 'TypeError|clean',
    misspelt: 'TypeError|clean',
    badKeyType: 'TypeError|clean',
    keysAsString: 'TypeError|clean',
    sdkShape: 'constructed',
  })
  await page.close()
})

test('root keys in the page: compact and deterministic values and blind indexes, byte for byte the vectors', async () => {
  const vectors = JSON.parse(execFileSync('cat', [join(need('DEKBOX_REPO'), 'tests/vectors/root-v1.json')]).toString())
  const page = await browser.newPage()
  assert.equal(await load(page, `${base}/`), 'yes')
  const out = await page.evaluate(async (vectors) => {
    const k = await import('/pkg/kms/dekbox.js')
    await k.default()
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
    const unhex = (h) => new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? [])
    const box = new k.Box({ key: 'insecure-test-key', credentials: { accessKeyId: 'AKIA', secretAccessKey: 'unused' },
      roots: { r1: vectors.root_token } })
    const failures = []
    for (const v of vectors.values) {
      const sealed = v.form === 'text' ? v.sealed : unhex(v.sealed)
      const o = { column: v.column, context: v.context, aad: unhex(v.aad) }
      const pt = await box.decryptCompact(sealed, o)
      if (hex(pt) !== v.plaintext) failures.push(`open ${v.name}`)
      if (v.mode === 'deterministic') {
        const again = await box.encryptCompact(unhex(v.plaintext), { ...o, deterministic: true, text: v.form === 'text' })
        if ((typeof again === 'string' ? again : hex(again)) !== v.sealed) failures.push(`seal ${v.name}`)
      }
    }
    for (const v of vectors.blind_indexes) {
      const slow = v.argon2id ? [v.argon2id.t_cost, v.argon2id.m_cost] : false
      const got = await box.blindIndex(unhex(v.value), { column: v.column, context: v.context, bits: v.bits,
        trim: v.trim, casefold: v.casefold, slow })
      if (got !== v.index) failures.push(`index ${v.name}`)
    }
    const email = await box.encryptCompact('ada@example.com!!', { column: 'users.email', context: { tenant: 'acme' }, text: true })
    const errors = {}
    for (const [name, o] of Object.entries({
      column: { column: 'users.phone', context: { tenant: 'acme' } },
      context: { column: 'users.email', context: { tenant: 'globex' } },
      missingColumn: { context: { tenant: 'acme' } },
    })) {
      try { await box.decryptCompact(email, o); errors[name] = 'opened' } catch (e) { errors[name] = e.name }
    }
    try { await box.decryptCompact(email.slice(0, 40), { column: 'users.email' }); errors.truncated = 'opened' } catch (e) { errors.truncated = e.name }
    try { await box.createRoot(5); errors.badLabel = 'created' } catch (e) { errors.badLabel = e.name }
    const fresh = await box.createRoot('r9')
    const rebox = new k.Box({ key: 'insecure-test-key', credentials: { accessKeyId: 'AKIA', secretAccessKey: 'unused' }, roots: { r9: fresh } })
    const det = await rebox.encryptCompact('x', { column: 'c', deterministic: true, text: true })
    if ((await rebox.decryptCompact(det, { column: 'c', text: true })) !== 'x' || !fresh.startsWith('dekbox:root:v1:r9:')) failures.push('createRoot')
    return { failures, length: email.length, kmsCalls: box.cacheStats().kmsCalls, errors,
      opened: await box.decryptCompact(email, { column: 'users.email', context: { tenant: 'acme' }, text: true }) }
  }, vectors)
  assert.deepEqual(out.failures, [])
  assert.equal(out.length, 97)
  assert.equal(out.kmsCalls, 2, 'the root unwrapped once, and createRoot')
  assert.equal(out.opened, 'ada@example.com!!')
  assert.deepEqual(out.errors, { column: 'AuthenticationError', context: 'AuthenticationError', missingColumn: 'TypeError', truncated: 'MalformedError', badLabel: 'TypeError' })
  await page.close()
})

test('tsc --strict compiles a sample against the installed declarations, and rejects misuse', () => {
  const require = createRequire(import.meta.url)
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc')
  const dir = mkdtempSync(join(here, '..', '.tsc-'))
  copyFileSync(join(here, 'types-sample.ts'), join(dir, 'sample.ts'))
  symlinkSync(join(here, '..', 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: 'esnext', moduleResolution: 'bundler', target: 'es2022',
      lib: ['es2022', 'dom', 'esnext.disposable'], types: [], skipLibCheck: false,
    },
    files: ['sample.ts'],
  }))
  try {
    const out = execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
    assert.equal(out.trim(), '')
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`)
  }
})
