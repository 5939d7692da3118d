// No secret in anything formatted: with a known local key, a known AWS
// secret, Google token and Vault token in the environment, util.inspect and
// String() of every object and error the package hands out are searched for
// those secrets, raw, as hex and as base64.
import test from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import { Box, Context, DekboxError } from 'dekbox'

const LOCAL_KEY = Buffer.alloc(32, 0x5a)
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzNODEKEY'
const GCP_TOKEN = 'ya29.a0AfH6SMBexampleNodeAccessToken0123456789'
const VAULT_TOKEN = 'hvs.CAESIexampleNodeVaultToken0123456789abcd'

function needles (secrets) {
  return secrets.flatMap((s) => {
    const b = Buffer.isBuffer(s) ? s : Buffer.from(s)
    return [b.toString('hex'), b.toString('base64'), b.toString('base64url'), ...(Buffer.isBuffer(s) ? [] : [s])]
  })
}

function assertClean (what, shown, secrets) {
  for (const n of needles(secrets)) {
    assert.ok(!shown.includes(n), `${what} shows a secret (${n}): ${shown}`)
  }
}

test('no inspect or String() output shows a secret', async () => {
  process.env.DEKBOX_KEY_B64 = LOCAL_KEY.toString('base64')
  process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLE'
  process.env.AWS_SECRET_ACCESS_KEY = AWS_SECRET
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  process.env.GOOGLE_OAUTH_ACCESS_TOKEN = GCP_TOKEN
  process.env.VAULT_ADDR = 'https://vault.example:8200'
  process.env.VAULT_TOKEN = VAULT_TOKEN
  const ctx = { tenant: 'acme' }
  const box = new Box({ key: 'local://env/DEKBOX_KEY_B64' })
  const dk = await box.generateDataKey({ context: ctx })
  const secrets = [LOCAL_KEY, dk.plaintext, AWS_SECRET, GCP_TOKEN, VAULT_TOKEN]
  const sealed = box.encryptSync('x', { context: ctx })
  const shown = []
  for (const obj of [
    box, new Context(ctx), box.cacheStats(), dk,
    new Box({ key: 'aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k' }),
    new Box({ key: 'gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k' }),
    new Box({ key: 'vault://transit/keys/app' }),
  ]) {
    shown.push(util.inspect(obj, { depth: 5 }), String(obj))
  }
  const tampered = Buffer.from(sealed)
  tampered[tampered.length - 1] ^= 1
  const failures = [
    () => box.decryptSync(tampered, { context: ctx }),
    () => box.decryptSync(sealed.subarray(0, 40), { context: ctx }),
    () => box.decryptSync(sealed, { context: { tenant: 'x' } }),
    () => box.unwrapSync(dk.wrapped, { context: { tenant: 'x' } }),
    () => new Box({ key: LOCAL_KEY.toString('base64') }),
  ]
  for (const f of failures) {
    let caught
    try { f() } catch (e) { caught = e }
    assert.ok(caught instanceof DekboxError, String(caught))
    shown.push(util.inspect(caught), String(caught), JSON.stringify(caught))
  }
  const refused = await new Box({ key: 'aws-kms://arn:aws:kms:eu-west-1:111122223333:key/k', endpoint: 'http://127.0.0.1:9' })
    .encrypt('x', { context: ctx }).then(() => null, (e) => e)
  assert.ok(refused instanceof DekboxError)
  shown.push(util.inspect(refused), String(refused))
  for (const s of shown) assertClean('a formatted value', s, secrets)
  // The search finds what it looks for.
  assert.throws(() => assertClean('canary', `key=${LOCAL_KEY.toString('base64')}`, secrets))
})
