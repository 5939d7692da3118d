// Compiled by types.test.mjs with `tsc --strict --noEmit`: the shipped
// declarations must type this correctly, and reject the lines marked.
import { Box, Context, DekboxError, AuthenticationError, type BoxOptions, type CacheStats } from 'dekbox'

async function main(): Promise<void> {
  const options: BoxOptions = { keys: { v1: 'local:///k1', v2: 'local:///k2' }, primary: 'v2', cache: { maxAge: 60 } }
  const box = new Box(options)
  const ctx = new Context({ tenant: 'acme' })
  const bin: Buffer = await box.encrypt('x', { context: ctx, aad: 'row/1' })
  const text: string = await box.encrypt(new Uint8Array([1]), { context: { tenant: 'a' }, text: true })
  const syncText: string = box.encryptSync('x', { text: true })
  const syncBin: Buffer = box.encryptSync('x')
  const opened: Buffer = await box.decrypt(text, { context: ctx })
  const many: string[] = await box.encryptMany(['a', 'b'], { text: true })
  const results: Array<Buffer | DekboxError> = await box.decryptMany(many, { returnErrors: true })
  const moved: string = await box.rewrap(text)
  const movedBin: Buffer = box.rewrapSync(bin)
  const { plaintext, wrapped } = await box.generateDataKey({ context: ctx })
  const dek: Buffer = await box.unwrap(wrapped, { context: ctx, label: 'v2' })
  const stats: CacheStats = box.cacheStats()
  const n: number = stats.kmsCalls + ctx.size
  const keys: string[] = box.keys
  try {
    box.decryptSync(bin)
  } catch (e) {
    if (e instanceof AuthenticationError) {
      const code: string = e.code
      const retry: boolean = e.retryable
      console.log(code, retry)
    }
  }
  const rootBox = new Box({ key: 'insecure-test-key', roots: { r1: 'dekbox:root:v1:r1:x' }, primaryRoot: 'r1' })
  const compact: string = await rootBox.encryptCompact('x', { column: 'c', text: true })
  const compactBin: Buffer = rootBox.encryptCompactSync('x', { column: 'c', deterministic: true })
  const openedCompact: Buffer = await rootBox.decryptCompact(compact, { column: 'c' })
  const idx: string = await rootBox.blindIndex('x', { column: 'c', bits: 64, slow: [1, 64] })
  const idxBin: Buffer = rootBox.blindIndexSync('x', { column: 'c', hex: false })
  const token: string = rootBox.createRootSync('r2', { key: 'v1' })
  const roots: string[] = rootBox.roots
  console.log(compactBin, openedCompact, idx, idxBin, token, roots)
  // @ts-expect-error column is required
  rootBox.encryptCompactSync('x', {})
  console.log(syncText, syncBin, opened, results, moved, movedBin, plaintext, dek, n, keys)
  // @ts-expect-error a number is not an Input
  await box.encrypt(5)
  // @ts-expect-error text form is a string, not a Buffer
  const wrong: Buffer = await box.encrypt('x', { text: true })
  // @ts-expect-error unknown option
  new Box({ kee: 'x' })
  // @ts-expect-error context values are strings
  box.encryptSync('x', { context: { tenant: 1 } })
  console.log(wrong)
}
void main()
