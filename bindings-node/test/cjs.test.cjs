// CommonJS `require` sees the same package as ESM `import`.
const test = require('node:test')
const assert = require('node:assert/strict')
const dekbox = require('dekbox')

test('require("dekbox") works and shares classes with import', async () => {
  const { Box, AuthenticationError, DekboxError } = dekbox
  const box = new Box('insecure-test-key')
  const sealed = box.encryptSync('from cjs', { context: { a: 'b' } })
  assert.equal(box.decryptSync(sealed, { context: { a: 'b' } }).toString(), 'from cjs')
  assert.throws(() => box.decryptSync(sealed), AuthenticationError)
  const esm = await import('dekbox')
  assert.equal(esm.Box, Box)
  assert.equal(esm.DekboxError, DekboxError)
  assert.equal(esm.default, dekbox)
  // Every class in the error table is a named ESM export.
  for (const cls of Object.values(dekbox.errorsByCode)) assert.equal(esm[cls.name], cls, cls.name)
  assert.match(dekbox.version, /^\d+\.\d+\.\d+/)
})
