// Compiled by page.test.mjs with tsc --strict against the installed package's
// declarations: the documented calls type-check, and misuse does not.
import init, { DataKey, openWithDataKey, sealWithDataKey, errorCodes, type OpenOptions } from 'dekbox-browser/web'
import initKms, { Box, type CacheStats } from 'dekbox-browser/kms'
import * as bundled from 'dekbox-browser'

export async function sample(token: string, message: string, bytes: Uint8Array): Promise<string> {
  await init()
  const opts: OpenOptions = { context: { user: '42' }, aad: 'notes/1' }
  const pt: Uint8Array = openWithDataKey(message, token, opts)
  const sealed: Uint8Array | string = sealWithDataKey(pt, token, { context: { user: '42' }, text: true })
  {
    using dk = DataKey.take(bytes)
    const many: Uint8Array[] = await dk.openManyAsync([message, sealed], { context: { user: '42' }, aads: ['a', 'b'] })
    const one: Uint8Array = await dk.openAsync(message)
    const text: string = dk.openText(message, opts)
    const name: string | undefined = dk.keyName
    void [many, one, text, name, dk.canSeal]
  }
  const codes: string[] = errorCodes()
  await initKms()
  const box = new Box({ key: 'aws-kms://alias/app', region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } })
  const stats: CacheStats = box.cacheStats()
  const t: string = await box.decryptText(await box.encrypt('x', { context: { t: '1' }, text: true }) as string)
  const rooted = new Box({ key: 'aws-kms://alias/app', credentials: { accessKeyId: 'a', secretAccessKey: 's' }, roots: { r1: 'dekbox:root:v1:r1:x' } })
  const compact = await rooted.encryptCompact('x', { column: 'users.email', deterministic: true, text: true })
  const index = await rooted.blindIndex('x', { column: 'users.email', bits: 64, slow: [1, 64] })
  void [codes, stats.kmsCalls, bundled.openWithDataKey, compact, index, await rooted.decryptCompact(compact, { column: 'users.email' })]
  // @ts-expect-error column is required
  rooted.encryptCompact('x', { deterministic: true })
  // @ts-expect-error a context is an object of strings
  openWithDataKey(message, token, { context: { user: 42 } })
  // @ts-expect-error misspelt option
  sealWithDataKey('x', token, { contxt: {} })
  // @ts-expect-error credentials are required
  new Box({ key: 'aws-kms://alias/app' })
  return t
}
