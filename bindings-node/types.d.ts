/*
 * The public API of the `dekbox` package (bindings-node/types.d.ts), followed
 * by the declarations napi-rs generates from the Rust source for the native
 * functions that index.js's Box and Context call.
 */

/** Bytes to seal or open: a `Buffer`, any `Uint8Array`, or a string (UTF-8). */
export type Input = Buffer | Uint8Array | string

/** A sealed value: a `Buffer`, or a `dekbox:v1:` string in text form. */
export type Sealed<T extends boolean> = T extends true ? string : Buffer

/** An encryption context: a prepared {@link Context} or a plain object of strings. */
export type ContextLike = Context | Record<string, string>

export interface ContextOptions {
  /** Bound to the data key and authenticated; the same context must be given to open it. */
  context?: ContextLike
}

export interface DecryptOptions extends ContextOptions {
  /** Additional authenticated data (per row, per field); not stored in the value. */
  aad?: Input
}

export interface EncryptOptions<T extends boolean = false> extends DecryptOptions {
  /** Return the `dekbox:v1:...` text form (a string) instead of a Buffer. */
  text?: T
}

export interface EncryptManyOptions<T extends boolean = false> extends ContextOptions {
  /** One aad per item. */
  aads?: Input[]
  text?: T
}

export interface DecryptManyOptions extends ContextOptions {
  /** One aad per item. */
  aads?: Input[]
  /** Put each failure's DekboxError in its place instead of rejecting. */
  returnErrors?: boolean
}

export interface UnwrapOptions extends ContextOptions {
  /** The keyring label that wrapped the key (default: the primary). */
  label?: string
}

/** A data key from `generateDataKey`. Overwrite `plaintext` (`.fill(0)`) when done. */
export interface DataKey {
  plaintext: Buffer
  wrapped: Buffer
}

/** Cache limits; omitted fields keep dekbox's defaults. Durations in seconds. */
export interface CacheOptions {
  maxAge?: number
  maxMessages?: number
  maxBytes?: number
  encryptCapacity?: number
  decryptCapacity?: number
  decryptTtl?: number
}

export interface BoxOptions {
  /** One key URI: `local:///path/to/key`, `aws-kms://arn:...`, `aws-kms://alias/...`. */
  key?: string
  /** A keyring, label → key URI (for rotation); with `primary`. */
  keys?: Record<string, string>
  /** The label new data is sealed under (required with several `keys`). */
  primary?: string
  /** AWS KMS endpoint URL (VPC endpoints, test servers). */
  endpoint?: string
  /** AWS region when the key URI names none. */
  region?: string
  /** AWS profile from the shared config files. */
  profile?: string
  /** Use the AWS KMS FIPS endpoints. */
  fips?: boolean
  /** AWS KMS grant tokens sent with every request. */
  grantTokens?: string[]
  /** Cache limits, or `false` to cache nothing (every call reaches the KMS). */
  cache?: CacheOptions | false
  /** Also read JSON envelopes `{"encryptedDek","cipherText"}`. */
  acceptJson?: boolean
  /** Decrypt values in no dekbox form directly with the key (migrations). */
  legacyFallback?: boolean
  /** With `legacyFallback`, accept legacy values of exactly 32 bytes. */
  legacyAllowKeySized?: boolean
  /** Keyring label for JSON envelopes and legacy values (default: the primary). */
  compatKey?: string
  /** Largest plaintext sealed or opened, in bytes (default 256 MiB). */
  maxPlaintext?: number
  /** Root keys, label → token (`dekbox:root:v1:…`), for compact and deterministic values and blind indexes. */
  roots?: Record<string, string>
  /** The root new values and indexes use (required with several `roots`). */
  primaryRoot?: string
}

export interface CompactOptions extends DecryptOptions {
  /** The column label, bound into the value's key (give the same one to decrypt). */
  column: string
}

export interface EncryptCompactOptions<T extends boolean = false> extends CompactOptions {
  /** Equal input, context, column and aad give equal values (queryable). Default false: randomized. */
  deterministic?: boolean
  /** Return the `dekbox:c1:` text form (a string) instead of a Buffer. */
  text?: T
}

export interface BlindIndexOptions<H extends boolean = true> extends ContextOptions {
  /** The column label. */
  column: string
  /** Index length in bits, 1–256 (default 256). Few bits collide on purpose. */
  bits?: number
  /** Remove surrounding whitespace first (in Rust: the same in every runtime). */
  trim?: boolean
  /** Compare case-insensitively (Unicode lowercase, in Rust). */
  casefold?: boolean
  /** Your own normalization, applied first. */
  normalize?: (value: Input) => Input
  /** Argon2id for low-entropy values: `true` (3 passes, 4 MiB) or `[tCost, mCostKiB]`. */
  slow?: boolean | [number, number]
  /** The root label (default the primary root). */
  root?: string
  /** Hex string (default) or, with `false`, a Buffer. */
  hex?: H
}

export interface CacheStats {
  encryptHits: number
  encryptMisses: number
  decryptHits: number
  decryptMisses: number
  /** KMS operations (retries not counted). */
  kmsCalls: number
  dataKeysGenerated: number
}

/**
 * A prepared encryption context: an object of strings converted once, for
 * reuse across many calls (the fast way to pass the same context again).
 */
export declare class Context {
  #private
  /** Converts `entries` once (another Context is accepted and shared). */
  constructor(entries: Record<string, string> | Context)
  /** The number of entries. */
  get size(): number
  /** The entries as a plain object. */
  toJSON(): Record<string, string>
}

/** Base class of every dekbox error; `code` is stable (`ERR_DEKBOX_*`). */
export declare class DekboxError extends Error {
  readonly code: string
  /** Whether retrying later may succeed (throttling, an unavailable KMS). */
  readonly retryable: boolean
}

/**
 * Envelope encryption with cached data keys. Make one per application and
 * share it; it is safe to use from many async calls at once.
 *
 * Promise forms answer a cache hit of up to 1 MiB at once and run KMS calls
 * and larger values on dekbox's own threads; `*Sync` forms run on the
 * calling thread (local keys, warm caches). Options objects must be plain
 * objects; an unknown option name is a TypeError.
 */
export declare class Box {
  #private
  /**
   * Opens the keys (no network I/O). `options` is a key URI, or `{ key }` /
   * `{ keys, primary }` with AWS and cache settings; with no key at all,
   * `DEKBOX_KEY` names it.
   */
  constructor(options?: BoxOptions | string)
  /** Seals `data`; a `Buffer`, or a `dekbox:v1:` string with `{ text: true }`. */
  encrypt<T extends boolean = false>(data: Input, options?: EncryptOptions<T>): Promise<Sealed<T>>
  /** `encrypt` on the calling thread. */
  encryptSync<T extends boolean = false>(data: Input, options?: EncryptOptions<T>): Sealed<T>
  /** Opens a sealed value (`Buffer`, `Uint8Array` or string) to its plaintext. */
  decrypt(data: Input, options?: DecryptOptions): Promise<Buffer>
  /** `decrypt` on the calling thread. */
  decryptSync(data: Input, options?: DecryptOptions): Buffer
  /** Seals many values under one context (one KMS call at most). */
  encryptMany<T extends boolean = false>(items: Input[], options?: EncryptManyOptions<T>): Promise<Sealed<T>[]>
  /** `encryptMany` on the calling thread. */
  encryptManySync<T extends boolean = false>(items: Input[], options?: EncryptManyOptions<T>): Sealed<T>[]
  /**
   * Opens many values; rejects with the first error, or with
   * `{ returnErrors: true }` puts each failure's DekboxError in its place.
   */
  decryptMany(items: Input[], options?: DecryptManyOptions): Promise<Array<Buffer | DekboxError>>
  /** `decryptMany` on the calling thread. */
  decryptManySync(items: Input[], options?: DecryptManyOptions): Array<Buffer | DekboxError>
  /** Moves a value to the primary key without re-encrypting its data; same form out as in. */
  rewrap<T extends Input>(data: T, options?: ContextOptions): Promise<T extends string ? string : Buffer>
  /** `rewrap` on the calling thread. */
  rewrapSync<T extends Input>(data: T, options?: ContextOptions): T extends string ? string : Buffer
  /** A fresh data key under the primary key (not cached); `plaintext.fill(0)` when done. */
  generateDataKey(options?: ContextOptions): Promise<DataKey>
  /** `generateDataKey` on the calling thread. */
  generateDataKeySync(options?: ContextOptions): DataKey
  /** A wrapped data key back to its 32 bytes (wrapped by keyring key `label`, default the primary). */
  unwrap(wrapped: Input, options?: UnwrapOptions): Promise<Buffer>
  /** `unwrap` on the calling thread. */
  unwrapSync(wrapped: Input, options?: UnwrapOptions): Buffer
  /**
   * The data key of a sealed value as a message-key token
   * (`dekbox:key:v1:…`) for a client without KMS access, such as a browser
   * page using the `dekbox-browser` package. SECRET: it opens every message
   * sealed under that data key (all of this context's messages sealed while
   * it was cached) and seals messages this box opens. Hand it out only for
   * a context whose every message the client may read and write.
   */
  messageDataKey(data: Input, options?: ContextOptions): Promise<string>
  /** `messageDataKey` on the calling thread. */
  messageDataKeySync(data: Input, options?: ContextOptions): string
  /** A fresh message-key token for a client to seal uploads with (not cached). */
  newMessageDataKey(options?: ContextOptions): Promise<string>
  /** `newMessageDataKey` on the calling thread. */
  newMessageDataKeySync(options?: ContextOptions): string
  /**
   * A new root key wrapped by keyring key `key` (default the primary): its
   * token `dekbox:root:v1:<label>:…`, to keep in configuration (`roots`).
   */
  createRoot(label: string, options?: { key?: string }): Promise<string>
  /** `createRoot` on the calling thread. */
  createRootSync(label: string, options?: { key?: string }): string
  /**
   * Seals under the primary root for (context, column, aad): a compact value
   * (a 17-byte email is 97 characters), or a deterministic one.
   */
  encryptCompact<T extends boolean = false>(data: Input, options: EncryptCompactOptions<T>): Promise<Sealed<T>>
  /** `encryptCompact` on the calling thread. */
  encryptCompactSync<T extends boolean = false>(data: Input, options: EncryptCompactOptions<T>): Sealed<T>
  /** Opens a compact or deterministic value (it names its root). */
  decryptCompact(data: Input, options: CompactOptions): Promise<Buffer>
  /** `decryptCompact` on the calling thread. */
  decryptCompactSync(data: Input, options: CompactOptions): Buffer
  /** A blind index: a keyed digest for equality search in a side column. */
  blindIndex<H extends boolean = true>(value: Input, options: BlindIndexOptions<H>): Promise<H extends false ? Buffer : string>
  /** `blindIndex` on the calling thread. */
  blindIndexSync<H extends boolean = true>(value: Input, options: BlindIndexOptions<H>): H extends false ? Buffer : string
  /** The configured root labels. */
  get roots(): string[]
  /** The root new values and indexes use. */
  get primaryRoot(): string | null
  /** Cache and KMS counters. */
  cacheStats(): CacheStats
  /** Each key's label, or its URI when unlabelled. */
  get keys(): string[]
  /** The label (or URI) new data is sealed under. */
  get primary(): string
}
