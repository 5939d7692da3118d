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

// A Context's prepared entries, for `fields` (a private field: only a
// genuine Context has one, whatever its prototype says).
let preparedOf

/**
 * A prepared encryption context: an object of strings converted once, for
 * reuse across many calls (the fast way to pass the same context again).
 */
class Context {
  #prepared

  constructor(entries) {
    this.#prepared = native._prepareContext(entries)
    freeze(this)
  }

  static {
    preparedOf = (c) => (#prepared in c ? c.#prepared : undefined)
  }

  /** The number of entries. */
  get size() {
    return Object.keys(native._contextEntries(this.#prepared)).length
  }

  /** The entries as a plain object. */
  toJSON() {
    return native._contextEntries(this.#prepared)
  }

  [inspect]() {
    return `Context ${JSON.stringify(this.toJSON())}`
  }
}

// Captured now: nothing the application replaces later runs inside a call.
const { hasOwn, keys, getPrototypeOf } = Object
const { isArray } = Array
const ReflectApply = Reflect.apply
const PromiseResolve = Promise.resolve.bind(Promise)
const PromiseReject = Promise.reject.bind(Promise)
const allocUnsafe = Buffer.allocUnsafe
const { copy, fill } = Buffer.prototype
const ObjectPrototype = Object.prototype

function argError(code, message) {
  const e = new TypeError(message)
  defineProperty(e, 'code', { value: code, enumerable: true, configurable: true, writable: true })
  return e
}

function describe(v) {
  if (v === null) return 'null'
  if (isArray(v)) return 'Array'
  return typeof v
}

// An options object's fields, by name: own properties of a plain object
// only (a polluted Object.prototype is not read), unknown names refused (a
// misspelt `context` must not quietly seal under the empty context). Reading
// them here runs any getters before the native call borrows a Buffer.
function fields(options, names) {
  const out = [undefined, undefined, undefined]
  if (options === undefined || options === null) return out
  if (typeof options !== 'object' || isArray(options)) {
    throw argError('ERR_INVALID_ARG_TYPE', `options must be an object, not ${describe(options)}`)
  }
  const proto = getPrototypeOf(options)
  if (proto !== ObjectPrototype && proto !== null) {
    throw argError('ERR_INVALID_ARG_TYPE', 'options must be a plain object')
  }
  for (const k of keys(options)) {
    if (!names.includes(k)) {
      throw argError('ERR_INVALID_ARG_VALUE', `unknown option ${JSON.stringify(k)} (expected ${names.join(', ')})`)
    }
  }
  for (let i = 0; i < names.length; i++) {
    if (hasOwn(options, names[i])) out[i] = options[names[i]]
  }
  // A Context goes over as its prepared entries (checked natively again).
  const c = out[0]
  if (c !== null && typeof c === 'object') {
    const prepared = preparedOf(c)
    if (prepared !== undefined) out[0] = prepared
  }
  return out
}

const ENCRYPT = ['context', 'aad', 'text']
const DECRYPT = ['context', 'aad']
const ENCRYPT_MANY = ['context', 'aads', 'text']
const DECRYPT_MANY = ['context', 'aads', 'returnErrors']
const CONTEXT = ['context']
const UNWRAP = ['context', 'label']

// encrypt and encryptSync leave a small sealed value in this private scratch
// Buffer and return its length: copying it into a Buffer from Node's pool
// costs ~0.1 µs, a Buffer of its own from Node-API ~0.5 µs. (Decrypted
// values always get an ArrayBuffer of their own, never a slice of the pool.)
const scratch = Buffer.allocUnsafeSlow(4096)
function sealed(r) {
  if (typeof r !== 'number') return r
  const out = allocUnsafe(r)
  ReflectApply(copy, scratch, [out, 0, 0, r])
  ReflectApply(fill, scratch, [0, 0, r])
  return out
}

/**
 * Envelope encryption with cached data keys. Make one per application and
 * share it; it is safe to use from many async calls at once.
 */
class Box {
  #box

  constructor(options) {
    this.#box = new native.Box(options)
  }

  encrypt(data, options) {
    try {
      const [c, a, t] = fields(options, ENCRYPT)
      const r = this.#box.encrypt(data, c, a, t)
      return typeof r === 'number' ? PromiseResolve(sealed(r)) : r
    } catch (e) {
      return PromiseReject(e)
    }
  }

  encryptSync(data, options) {
    const [c, a, t] = fields(options, ENCRYPT)
    return sealed(this.#box.encryptSync(data, c, a, t))
  }

  decrypt(data, options) {
    try {
      const [c, a] = fields(options, DECRYPT)
      return this.#box.decrypt(data, c, a)
    } catch (e) {
      return PromiseReject(e)
    }
  }

  decryptSync(data, options) {
    const [c, a] = fields(options, DECRYPT)
    return this.#box.decryptSync(data, c, a)
  }

  encryptMany(items, options) {
    try {
      const [c, a, t] = fields(options, ENCRYPT_MANY)
      return this.#box.encryptMany(items, c, a, t)
    } catch (e) {
      return PromiseReject(e)
    }
  }

  encryptManySync(items, options) {
    const [c, a, t] = fields(options, ENCRYPT_MANY)
    return this.#box.encryptManySync(items, c, a, t)
  }

  decryptMany(items, options) {
    try {
      const [c, a, r] = fields(options, DECRYPT_MANY)
      return this.#box.decryptMany(items, c, a, r)
    } catch (e) {
      return PromiseReject(e)
    }
  }

  decryptManySync(items, options) {
    const [c, a, r] = fields(options, DECRYPT_MANY)
    return this.#box.decryptManySync(items, c, a, r)
  }

  rewrap(data, options) {
    try {
      return this.#box.rewrap(data, fields(options, CONTEXT)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  rewrapSync(data, options) {
    return this.#box.rewrapSync(data, fields(options, CONTEXT)[0])
  }

  generateDataKey(options) {
    try {
      return this.#box.generateDataKey(fields(options, CONTEXT)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  generateDataKeySync(options) {
    return this.#box.generateDataKeySync(fields(options, CONTEXT)[0])
  }

  unwrap(wrapped, options) {
    try {
      const [c, l] = fields(options, UNWRAP)
      return this.#box.unwrap(wrapped, c, l)
    } catch (e) {
      return PromiseReject(e)
    }
  }

  unwrapSync(wrapped, options) {
    const [c, l] = fields(options, UNWRAP)
    return this.#box.unwrapSync(wrapped, c, l)
  }

  cacheStats() {
    return this.#box.cacheStats()
  }

  get keys() {
    return this.#box.keys
  }

  get primary() {
    return this.#box.primary
  }

  [inspect]() {
    return `Box { keys: ${JSON.stringify(this.keys)}, primary: ${JSON.stringify(this.primary)} }`
  }
}

native._init((code, message) => new (byCode[code] || DekboxError)(message), ObjectPrototype, scratch)

module.exports = {
  Box,
  Context,
  ...errors,
  /** Error classes by `code`. */
  errorsByCode: freeze({ ...byCode }),
  version: native.nativeVersion(),
}
