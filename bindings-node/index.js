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
    const prepared = entries !== null && typeof entries === 'object' ? preparedOf(entries) : undefined
    this.#prepared = prepared !== undefined ? prepared : native._prepareContext(entries)
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
    return #prepared in this ? `Context ${JSON.stringify(this.toJSON())}` : 'Context {}'
  }
}

// Captured now.
const { getOwnPropertyNames, getPrototypeOf } = Object
const { isArray } = Array
const PromiseReject = Promise.reject.bind(Promise)
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
// only (a polluted Object.prototype is not read). A name the method does not
// use is refused (a misspelt `context`, or `aad` given to encryptMany, must
// not quietly seal without it) unless it is in `tolerated` (another method's
// name for the same thing, so one object can serve encrypt and decrypt) or
// holds undefined. Reading here runs any getters before the native call
// borrows a Buffer.
function fields(options, names, tolerated) {
  const out = new Array(names.length < 3 ? 3 : names.length).fill(undefined)
  if (options === undefined || options === null) return out
  if (typeof options !== 'object' || isArray(options)) {
    throw argError('ERR_INVALID_ARG_TYPE', `options must be an object, not ${describe(options)}`)
  }
  const proto = getPrototypeOf(options)
  if (proto !== ObjectPrototype && proto !== null) {
    throw argError('ERR_INVALID_ARG_TYPE', 'options must be a plain object')
  }
  const own = getOwnPropertyNames(options)
  for (let i = 0; i < own.length; i++) {
    const k = own[i]
    if (names.indexOf(k) < 0 && tolerated.indexOf(k) < 0 && options[k] !== undefined) {
      throw argError('ERR_INVALID_ARG_VALUE', `unknown option ${JSON.stringify(k)} (expected ${names.join(', ')})`)
    }
  }
  for (let i = 0; i < names.length; i++) {
    if (own.indexOf(names[i]) >= 0) out[i] = options[names[i]]
  }
  // A Context goes over as its prepared entries (checked natively again).
  const c = out[0]
  if (c !== null && typeof c === 'object') {
    const prepared = preparedOf(c)
    if (prepared !== undefined) out[0] = prepared
  }
  return out
}

// [used, tolerated] option names per method.
const NONE = []
const ENCRYPT = ['context', 'aad', 'text']
const DECRYPT = ['context', 'aad']
const ENCRYPT_MANY = ['context', 'aads', 'text']
const DECRYPT_MANY = ['context', 'aads', 'returnErrors']
const CONTEXT = ['context']
const UNWRAP = ['context', 'label']
const TEXT = ['text']
const AAD_TEXT = ['aad', 'text']
const KEY = ['key']
const ENCRYPT_COMPACT = ['context', 'column', 'aad', 'deterministic', 'text']
const DECRYPT_COMPACT = ['context', 'column', 'aad']
const BLIND_INDEX = ['context', 'column', 'bits', 'trim', 'casefold', 'slow', 'root', 'hex', 'normalize']
// Argon2id costs of the blind_index gem's `slow` option: 3 passes over 4 MiB.
const SLOW_INDEX = freeze([3, 4096])

// blindIndex's fields, with `normalize` (your hook) applied and `slow`
// turned into Argon2id costs: [value, context, column, bits, trim, casefold, tCost, mCost, root, hex].
function indexArgs(value, options) {
  const o = fields(options, BLIND_INDEX, NONE)
  const normalize = o[8]
  if (normalize !== undefined && typeof normalize !== 'function') {
    throw argError('ERR_INVALID_ARG_TYPE', `options.normalize must be a function, not ${describe(normalize)}`)
  }
  if (normalize !== undefined) value = normalize(value)
  const slow = o[5] === true ? SLOW_INDEX : o[5]
  if (slow !== undefined && slow !== false && !(isArray(slow) && slow.length === 2)) {
    throw argError('ERR_INVALID_ARG_TYPE', 'options.slow must be a boolean or [tCost, mCostKiB]')
  }
  const costs = slow === undefined || slow === false ? [undefined, undefined] : slow
  return [value, o[0], o[1], o[2], o[3], o[4], costs[0], costs[1], o[6], o[7] !== false]
}

/**
 * Envelope encryption with cached data keys. Make one per application and
 * share it; it is safe to use from many async calls at once.
 *
 * Each method reads its options object here and hands the engine (an
 * external only the addon can read) and the fields to one native function.
 */
class Box {
  #box

  constructor(options) {
    this.#box = native._open(options)
  }

  encrypt(data, options) {
    try {
      const o = fields(options, ENCRYPT, NONE)
      return native._encrypt(this.#box, data, o[0], o[1], o[2])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  encryptSync(data, options) {
    const o = fields(options, ENCRYPT, NONE)
    return native._encryptSync(this.#box, data, o[0], o[1], o[2])
  }

  decrypt(data, options) {
    try {
      const o = fields(options, DECRYPT, TEXT)
      return native._decrypt(this.#box, data, o[0], o[1])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  decryptSync(data, options) {
    const o = fields(options, DECRYPT, TEXT)
    return native._decryptSync(this.#box, data, o[0], o[1])
  }

  encryptMany(items, options) {
    try {
      const o = fields(options, ENCRYPT_MANY, NONE)
      return native._encryptMany(this.#box, items, o[0], o[1], o[2])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  encryptManySync(items, options) {
    const o = fields(options, ENCRYPT_MANY, NONE)
    return native._encryptManySync(this.#box, items, o[0], o[1], o[2])
  }

  decryptMany(items, options) {
    try {
      const o = fields(options, DECRYPT_MANY, TEXT)
      return native._decryptMany(this.#box, items, o[0], o[1], o[2])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  decryptManySync(items, options) {
    const o = fields(options, DECRYPT_MANY, TEXT)
    return native._decryptManySync(this.#box, items, o[0], o[1], o[2])
  }

  rewrap(data, options) {
    try {
      return native._rewrap(this.#box, data, fields(options, CONTEXT, AAD_TEXT)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  rewrapSync(data, options) {
    return native._rewrapSync(this.#box, data, fields(options, CONTEXT, AAD_TEXT)[0])
  }

  generateDataKey(options) {
    try {
      return native._generateDataKey(this.#box, fields(options, CONTEXT, NONE)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  generateDataKeySync(options) {
    return native._generateDataKeySync(this.#box, fields(options, CONTEXT, NONE)[0])
  }

  unwrap(wrapped, options) {
    try {
      const o = fields(options, UNWRAP, NONE)
      return native._unwrap(this.#box, wrapped, o[0], o[1])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  unwrapSync(wrapped, options) {
    const o = fields(options, UNWRAP, NONE)
    return native._unwrapSync(this.#box, wrapped, o[0], o[1])
  }

  messageDataKey(data, options) {
    try {
      return native._messageDataKey(this.#box, data, fields(options, CONTEXT, NONE)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  messageDataKeySync(data, options) {
    return native._messageDataKeySync(this.#box, data, fields(options, CONTEXT, NONE)[0])
  }

  newMessageDataKey(options) {
    try {
      return native._newMessageDataKey(this.#box, fields(options, CONTEXT, NONE)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  newMessageDataKeySync(options) {
    return native._newMessageDataKeySync(this.#box, fields(options, CONTEXT, NONE)[0])
  }

  createRoot(label, options) {
    try {
      return native._createRoot(this.#box, label, fields(options, KEY, NONE)[0])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  createRootSync(label, options) {
    return native._createRootSync(this.#box, label, fields(options, KEY, NONE)[0])
  }

  encryptCompact(data, options) {
    try {
      const o = fields(options, ENCRYPT_COMPACT, NONE)
      return native._encryptCompact(this.#box, data, o[0], o[1], o[2], o[3], o[4])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  encryptCompactSync(data, options) {
    const o = fields(options, ENCRYPT_COMPACT, NONE)
    return native._encryptCompactSync(this.#box, data, o[0], o[1], o[2], o[3], o[4])
  }

  decryptCompact(data, options) {
    try {
      const o = fields(options, DECRYPT_COMPACT, TEXT)
      return native._decryptCompact(this.#box, data, o[0], o[1], o[2])
    } catch (e) {
      return PromiseReject(e)
    }
  }

  decryptCompactSync(data, options) {
    const o = fields(options, DECRYPT_COMPACT, TEXT)
    return native._decryptCompactSync(this.#box, data, o[0], o[1], o[2])
  }

  blindIndex(value, options) {
    try {
      const a = indexArgs(value, options)
      return native
        ._blindIndex(this.#box, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8])
        .then((b) => (a[9] ? b.toString('hex') : b))
    } catch (e) {
      return PromiseReject(e)
    }
  }

  blindIndexSync(value, options) {
    const a = indexArgs(value, options)
    const b = native._blindIndexSync(this.#box, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8])
    return a[9] ? b.toString('hex') : b
  }

  /** The configured root labels. */
  get roots() {
    return native._roots(this.#box)[0]
  }

  /** The root new compact values and indexes use. */
  get primaryRoot() {
    return native._roots(this.#box)[1]
  }

  cacheStats() {
    return native._cacheStats(this.#box)
  }

  get keys() {
    return native._keys(this.#box)[0]
  }

  get primary() {
    return native._keys(this.#box)[1]
  }

  [inspect]() {
    if (!(#box in this)) return 'Box {}'
    const [keys, primary] = native._keys(this.#box)
    return `Box { keys: ${JSON.stringify(keys)}, primary: ${JSON.stringify(primary)} }`
  }
}

const api = {
  Box,
  Context,
  ...errors,
  /** Argon2id costs of `blindIndex`'s `slow: true`: [passes, KiB]. */
  SLOW_INDEX,
  /** Error classes by `code`. */
  errorsByCode: freeze({ ...byCode }),
  version: native.nativeVersion(),
}

// Evaluated again over the same native module (a test runner's fresh module
// registry, a cleared require cache): the realm keeps the first API, so its
// errors stay instances of the classes the application holds.
if (native._api === undefined) {
  native._init((code, message) => new (byCode[code] || DekboxError)(message), ObjectPrototype)
  defineProperty(native, '_api', { value: freeze(api) })
}
module.exports = native._api
