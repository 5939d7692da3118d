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

native._init((code, message) => new (byCode[code] || DekboxError)(message), PREPARED, Object.prototype)

module.exports = {
  Box: native.Box,
  Context,
  ...errors,
  /** Error classes by `code`. */
  errorsByCode: freeze({ ...byCode }),
  version: native.nativeVersion(),
}
