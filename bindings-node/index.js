'use strict'
// dekbox for Node: the native Box and Context (Rust, via napi-rs) and the
// error classes, built once per realm from dekbox-core's error table.

const native = require('./native.js')

/** Base class of every dekbox error; `code` is stable (`ERR_DEKBOX_*`). */
class DekboxError extends Error {
  constructor(message, options) {
    super(message, options)
    Object.defineProperty(this, 'code', {
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
Object.defineProperty(DekboxError.prototype, 'name', { value: 'DekboxError', configurable: true, writable: true })

const errors = { DekboxError }
const byCode = Object.create(null)
for (const [code, name, parent, retryable, , description] of native._errorTable()) {
  const Parent = parent ? byCode[parent] : DekboxError
  const cls = { [name]: class extends Parent {} }[name]
  Object.defineProperty(cls.prototype, 'name', { value: name, configurable: true, writable: true })
  Object.assign(cls, { code, retryable, description })
  errors[name] = cls
  byCode[code] = cls
}
native._setErrorFactory((code, message) => new (byCode[code] || DekboxError)(message))

module.exports = {
  Box: native.Box,
  Context: native.Context,
  ...errors,
  /** Error classes by `code`. */
  errorsByCode: Object.freeze({ ...byCode }),
  version: native.nativeVersion(),
}
