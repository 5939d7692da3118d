'use strict'
// dekbox for Node: the native Box (Rust, via napi-rs), Context, and the
// error classes, built once per realm from dekbox-core's error table.

const native = require('./native.js')

// Captured now: the addon builds errors while a call is in progress, and no
// code the application may have replaced since should run then.
const { defineProperty, freeze } = Object
const inspect = Symbol.for('nodejs.util.inspect.custom')

/** Base class of every dekbox error; `code` is stable (`ERR_DEKBOX_*`). */
class DekboxError extends Error {
  constructor(message, options) {
    super(message, options)
    defineProperty(this, 'code', {
      value: new.target.code || 'ERR_DEKBOX',
      enumerable: true,
      configurable: true,
      writable: true,
    })
  }

  /** Whether retrying later may succeed (throttling, an unavailable KMS). */
  get retryable() {
    return this.constructor.retryable === true
  }
}
defineProperty(DekboxError.prototype, 'name', { value: 'DekboxError', configurable: true, writable: true })

const errors = { DekboxError }
const byCode = Object.create(null)
for (const [code, name, parent, retryable, , description] of native._errorTable()) {
  const Parent = parent ? byCode[parent] : DekboxError
  const cls = { [name]: class extends Parent {} }[name]
  defineProperty(cls.prototype, 'name', { value: name, configurable: true, writable: true })
  defineProperty(cls, 'code', { value: code })
  defineProperty(cls, 'retryable', { value: retryable })
  defineProperty(cls, 'description', { value: description })
  errors[name] = cls
  byCode[code] = cls
}

// Where a Context keeps its prepared (native, unforgeable) entries.
const PREPARED = Symbol('dekbox.Context')

/**
 * A prepared encryption context: an object of strings converted once, for
 * reuse across many calls (the fast way to pass the same context again).
 */
class Context {
  constructor(entries) {
    defineProperty(this, PREPARED, { value: native._prepareContext(entries) })
    freeze(this)
  }

  /** The number of entries. */
  get size() {
    return Object.keys(native._contextEntries(this[PREPARED])).length
  }

  /** The entries as a plain object. */
  toJSON() {
    return native._contextEntries(this[PREPARED])
  }

  [inspect]() {
    return `Context ${JSON.stringify(this.toJSON())}`
  }
}

// The hot calls (encrypt, decrypt and their *Sync forms) leave a small
// result in this private scratch Buffer and return its length: copying it
// into a Buffer from Node's pool costs ~0.1 µs, a Buffer of its own from
// Node-API ~0.5 µs. The scratch is wiped after each copy.
const scratch = Buffer.allocUnsafeSlow(4096)
function take(n) {
  const out = Buffer.allocUnsafe(n)
  scratch.copy(out, 0, 0, n)
  scratch.fill(0, 0, n)
  return out
}

const proto = native.Box.prototype
const raw = {
  encrypt: proto.encrypt,
  encryptSync: proto.encryptSync,
  decrypt: proto.decrypt,
  decryptSync: proto.decryptSync,
}
defineProperty(proto, 'encrypt', {
  value: function encrypt(data, options) {
    const r = raw.encrypt.call(this, data, options)
    return typeof r === 'number' ? Promise.resolve(take(r)) : r
  },
  writable: true,
  configurable: true,
})
defineProperty(proto, 'encryptSync', {
  value: function encryptSync(data, options) {
    const r = raw.encryptSync.call(this, data, options)
    return typeof r === 'number' ? take(r) : r
  },
  writable: true,
  configurable: true,
})
defineProperty(proto, 'decrypt', {
  value: function decrypt(data, options) {
    const r = raw.decrypt.call(this, data, options)
    return typeof r === 'number' ? Promise.resolve(take(r)) : r
  },
  writable: true,
  configurable: true,
})
defineProperty(proto, 'decryptSync', {
  value: function decryptSync(data, options) {
    const r = raw.decryptSync.call(this, data, options)
    return typeof r === 'number' ? take(r) : r
  },
  writable: true,
  configurable: true,
})

native._init((code, message) => new (byCode[code] || DekboxError)(message), PREPARED, Object.prototype, scratch)

module.exports = {
  Box: native.Box,
  Context,
  ...errors,
  /** Error classes by `code`. */
  errorsByCode: freeze({ ...byCode }),
  version: native.nativeVersion(),
}
