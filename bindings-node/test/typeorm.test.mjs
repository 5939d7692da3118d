// The TypeORM sketch (examples/typeorm.mjs) on SQLite (sql.js): values are
// sealed in the database, open on load, and are bound to row, column and tenant.
import test from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import 'reflect-metadata'
import typeorm from 'typeorm'
import { Box, AuthenticationError } from 'dekbox'
import { blindIndexOf, encryptedColumns } from '../examples/typeorm.mjs'
import { keyFile } from './helpers.mjs'

const { DataSource, EntitySchema } = typeorm

const User = new EntitySchema({
  name: 'users',
  columns: {
    id: { type: 'varchar', primary: true },
    tenantId: { type: 'varchar' },
    email: { type: 'varchar' },
    ssn: { type: 'text', nullable: true },
    notes: { type: 'text', nullable: true },
  },
})

async function open(box) {
  const ds = new DataSource({
    type: 'sqljs',
    entities: [User],
    synchronize: true,
    subscribers: [encryptedColumns(box, { target: User, columns: ['ssn', 'notes'], context: (u) => ({ tenant: u.tenantId }) })],
  })
  return ds.initialize()
}

test('TypeORM: columns sealed at rest, opened on load, bound to row and tenant', async () => {
  const box = new Box({ key: keyFile() })
  const ds = await open(box)
  const repo = ds.getRepository(User)
  const alice = { id: randomUUID(), tenantId: 'acme', email: 'alice@example.com', ssn: '123-45-6789', notes: 'VIP ✓' }
  const bob = { id: randomUUID(), tenantId: 'globex', email: 'bob@example.com', ssn: '987-65-4321', notes: null }
  await repo.save(alice)
  await repo.save(bob)
  assert.equal(alice.ssn, '123-45-6789', 'the saved object keeps its plaintext')

  const raw = await ds.query('SELECT id, ssn, notes, email FROM users ORDER BY email')
  assert.match(raw[0].ssn, /^dekbox:v1:/)
  assert.match(raw[0].notes, /^dekbox:v1:/)
  assert.equal(raw[1].notes, null)
  assert.ok(!JSON.stringify(raw).includes('123-45-6789'))

  const loaded = await repo.findOneByOrFail({ id: alice.id })
  assert.equal(loaded.ssn, '123-45-6789')
  assert.equal(loaded.notes, 'VIP ✓')
  loaded.notes = 'updated'
  await repo.save(loaded)
  assert.equal((await repo.findOneByOrFail({ id: alice.id })).notes, 'updated')
  assert.equal((await repo.find()).length, 2)

  // A value moved to another row (or column) does not open there.
  const aliceSsn = (await ds.query('SELECT ssn FROM users WHERE id = ?', [alice.id]))[0].ssn
  await ds.query('UPDATE users SET ssn = ? WHERE id = ?', [aliceSsn, bob.id])
  await assert.rejects(repo.findOneByOrFail({ id: bob.id }), AuthenticationError)
  await ds.query('UPDATE users SET notes = ssn WHERE id = ?', [alice.id])
  await assert.rejects(repo.findOneByOrFail({ id: alice.id }), AuthenticationError)
  // Nor under another tenant.
  await ds.query('UPDATE users SET notes = NULL, ssn = ? WHERE id = ?', [aliceSsn, alice.id])
  await ds.query("UPDATE users SET tenantId = 'globex' WHERE id = ?", [alice.id])
  await assert.rejects(repo.findOneByOrFail({ id: alice.id }), AuthenticationError)
  await ds.destroy()
})

test('TypeORM: a row without its id is refused before anything is written', async () => {
  const ds = await open(new Box({ key: keyFile() }))
  await assert.rejects(ds.getRepository(User).save({ tenantId: 'a', email: 'x', ssn: '1' }), /assign id/)
  assert.equal((await ds.query('SELECT COUNT(*) AS n FROM users'))[0].n, 0)
  await ds.destroy()
})

test('TypeORM: a blind index in a side column finds rows by an encrypted email', async () => {
  const Account = new EntitySchema({
    name: 'accounts',
    columns: {
      id: { type: 'varchar', primary: true },
      tenantId: { type: 'varchar' },
      email: { type: 'text' },
      emailBidx: { type: 'varchar', length: 16 },
    },
  })
  const key = keyFile()
  const plain = new Box({ key })
  const root = plain.createRootSync('r1')
  const box = new Box({ key, roots: { r1: root } })
  const index = { column: 'emailBidx', bits: 64, trim: true, casefold: true }
  const ds = await new DataSource({
    type: 'sqljs',
    entities: [Account],
    synchronize: true,
    subscribers: [encryptedColumns(box, {
      target: Account, columns: ['email'], context: (a) => ({ tenant: a.tenantId }), indexes: { email: index },
    })],
  }).initialize()
  const repo = ds.getRepository(Account)
  await repo.save({ id: randomUUID(), tenantId: 'acme', email: 'Alice@Example.com' })
  await repo.save({ id: randomUUID(), tenantId: 'acme', email: 'bob@example.com' })
  await repo.save({ id: randomUUID(), tenantId: 'globex', email: 'alice@example.com' })
  const raw = await ds.query('SELECT email, emailBidx FROM accounts')
  assert.ok(!JSON.stringify(raw).toLowerCase().includes('alice'))
  assert.ok(raw.every((r) => /^[0-9a-f]{16}$/.test(r.emailBidx)))
  // Another Box (another process) computes the same index for the query.
  const other = new Box({ key, roots: { r1: root } })
  const wanted = await blindIndexOf(other, 'accounts', 'email', '  ALICE@example.com ', { ...index, context: { tenant: 'acme' } })
  const found = await repo.findBy({ emailBidx: wanted })
  assert.deepEqual(found.map((a) => [a.tenantId, a.email]), [['acme', 'Alice@Example.com']])
  // The same email under another tenant has an unrelated index.
  const globex = await blindIndexOf(other, 'accounts', 'email', 'alice@example.com', { ...index, context: { tenant: 'globex' } })
  assert.notEqual(globex, wanted)
  assert.equal((await repo.findBy({ emailBidx: globex })).length, 1)
  await ds.destroy()
})
