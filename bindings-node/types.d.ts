/* Types used by the generated declarations below (from bindings-node/types.d.ts). */

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
  constructor(entries: Record<string, string>)
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
