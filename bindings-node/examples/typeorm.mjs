// Encrypted columns for TypeORM, sealed by dekbox: a sketch to copy into an
// app (tested in test/typeorm.test.mjs against SQLite through sql.js).
//
// Each value is bound to its row and column (the aad `table/id/column`), so
// a value copied into another row or column fails to open, and to the
// tenant's context, so one tenant's rows never open under another's. Values
// are stored in text form (`dekbox:v1:...`) in a text column.
//
//   import { encryptedColumns } from './typeorm.mjs'
//   const box = new Box({ key: process.env.DEKBOX_KEY })
//   new DataSource({ ..., subscribers: [encryptedColumns(box, {
//     target: User, columns: ['ssn', 'notes'], context: (u) => ({ tenant: u.tenantId }),
//   })] })
//
// The row id must be known before the insert (assign a UUID in the app): it
// is part of the aad.
//
// Searching an encrypted column: give the Box a root key (`roots`) and list
// blind indexes, kept in side columns on every save:
//
//   encryptedColumns(box, { target: User, columns: ['email'], context,
//     indexes: { email: { column: 'emailBidx', bits: 64, trim: true, casefold: true } } })
//   repo.findBy({ emailBidx: await blindIndexOf(box, 'users', 'email', ' Alice@Example.com', spec) })

import typeorm from 'typeorm'

/**
 * A subscriber class for the DataSource's `subscribers` option.
 * @param {import('dekbox').Box} box
 * @param {{ target: Function | string | import('typeorm').EntitySchema, columns: string[],
 *           context?: (row: any) => Record<string, string>, table?: string, id?: string }} spec
 */
export function encryptedColumns(box, spec) {
  const { target, columns, context = () => ({}), id = 'id', indexes = {} } = spec
  // An EntitySchema's rows are matched by its target or name.
  const listen = target.options ? (target.options.target ?? target.options.name) : target
  const table = spec.table ?? (typeof listen === 'string' ? listen : listen.name)
  const aad = (row, column) => `${table}/${row[id]}/${column}`
  // Plaintext of entities being saved, put back after the write so the
  // application never sees its own object turn into ciphertext.
  const pending = new WeakMap()

  async function seal(row) {
    if (row[id] === undefined || row[id] === null) {
      throw new Error(`${table}: assign ${id} before saving an encrypted row (it is part of the aad)`)
    }
    const clear = {}
    const ctx = context(row)
    for (const c of columns) {
      if (row[c] === undefined || row[c] === null) continue
      clear[c] = row[c]
      const index = indexes[c]
      if (index) row[index.column] = await blindIndexOf(box, table, c, String(row[c]), { ...index, context: ctx })
      row[c] = await box.encrypt(String(row[c]), { context: ctx, aad: aad(row, c), text: true })
    }
    pending.set(row, clear)
  }

  function restore(row) {
    const clear = row && pending.get(row)
    if (clear) {
      Object.assign(row, clear)
      pending.delete(row)
    }
  }

  class DekboxColumns {
    listenTo() {
      return listen
    }

    async beforeInsert(event) {
      await seal(event.entity)
    }

    async beforeUpdate(event) {
      if (event.entity) await seal(event.entity)
    }

    afterInsert(event) {
      restore(event.entity)
    }

    afterUpdate(event) {
      restore(event.entity)
    }

    async afterLoad(row) {
      const ctx = context(row)
      for (const c of columns) {
        if (typeof row[c] !== 'string') continue
        row[c] = (await box.decrypt(row[c], { context: ctx, aad: aad(row, c) })).toString('utf8')
      }
    }
  }
  // TypeORM loads only subscriber classes registered by its decorator.
  typeorm.EventSubscriber()(DekboxColumns)
  return DekboxColumns
}

/**
 * The blind index of `value` for `table.column` (what `encryptedColumns`
 * stores in the side column), for queries: `repo.findBy({ emailBidx: ... })`.
 * @param {import('dekbox').Box} box
 * @param {string} table
 * @param {string} column
 * @param {string} value
 * @param {{ column?: string, bits?: number, trim?: boolean, casefold?: boolean,
 *           slow?: boolean | [number, number], context?: Record<string, string> }} [index]
 */
export function blindIndexOf(box, table, column, value, index = {}) {
  const { column: _sideColumn, ...options } = index
  return box.blindIndex(value, { ...options, column: `${table}.${column}` })
}
