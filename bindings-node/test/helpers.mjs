// Shared by the tests: where things are, fresh local keys, loopback servers.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function need(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run ./scripts/test.sh node, which sets it`)
  return v
}

export const repo = () => need('DEKBOX_REPO')

/** A fresh local key file, as `dekbox keygen` writes it; returns its URI. */
export function keyFile(name = 'app.key') {
  const dir = mkdtempSync(join(tmpdir(), 'dekbox-node-'))
  const path = join(dir, name)
  writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600 })
  return `local://${path}`
}

export function cli() {
  const path = need('DEKBOX_CLI')
  if (!existsSync(path)) throw new Error(`the dekbox CLI is not built at ${path}`)
  return path
}

/** A KMS call to moto (which does not check signatures on this server). */
export async function kms(url, action, body) {
  const r = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `TrentService.${action}`,
      Authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00',
    },
    body: JSON.stringify(body),
  })
  const json = await r.json()
  if (!r.ok) throw new Error(`${action}: ${JSON.stringify(json)}`)
  return json
}

export async function kmsKey(url, description = 'node') {
  return (await kms(url, 'CreateKey', { Description: description })).KeyMetadata.Arn
}

/** The fault proxy's control endpoints (/__reset, /__fault, /__stats). */
export async function proxy(path, body) {
  const url = need('DEKBOX_TEST_FAULT_PROXY_URL') + path
  const r = await fetch(url, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
  return r.json()
}

export function awsEnv() {
  process.env.AWS_ACCESS_KEY_ID = 'testing'
  process.env.AWS_SECRET_ACCESS_KEY = 'testing'
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  delete process.env.AWS_PROFILE
}
