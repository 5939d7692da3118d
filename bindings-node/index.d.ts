// Declarations for `dekbox`: Box, Context and the option types (written in
// types.d.ts, the header of the napi-rs-generated native.d.ts), plus the
// error subclasses index.js builds from dekbox-core's error table.

import { DekboxError } from './native'

export { Box, Context, DekboxError } from './native'
export type {
  Input, Sealed, ContextLike, ContextOptions, DecryptOptions, EncryptOptions, EncryptManyOptions,
  DecryptManyOptions, UnwrapOptions, DataKey, CacheOptions, BoxOptions, CacheStats,
  CompactOptions, EncryptCompactOptions, BlindIndexOptions,
} from './native'

/** Input is not a well-formed dekbox value: truncated, a bad length, unknown version, too large. */
export declare class MalformedError extends DekboxError {}
/** Wrong key, wrong context or aad, or altered data (deliberately indistinguishable). */
export declare class AuthenticationError extends DekboxError {}
/** The KMS refused the credentials or permissions. */
export declare class KmsAccessDenied extends DekboxError {}
/** The KMS rate-limited the request (retried with backoff before this is thrown). */
export declare class KmsThrottled extends DekboxError {}
/** The KMS could not be reached, timed out, or failed internally. */
export declare class KmsUnavailable extends DekboxError {}
/** A checksum over a KMS request or answer did not match: corrupted in transit (retried before this is thrown). */
export declare class KmsIntegrityError extends DekboxError {}
/** The key exists but is disabled or pending deletion. */
export declare class KeyDisabled extends DekboxError {}
/** The KMS does not know the key. */
export declare class KeyNotFound extends DekboxError {}
/** Any other KMS error; the message carries the service's error type. */
export declare class KmsError extends DekboxError {}
/** Invalid configuration: a bad key URI, unreadable key file, no credentials. */
export declare class ConfigError extends DekboxError {}
/** The value names a key that is not in this keyring. */
export declare class UnknownKeyError extends ConfigError {}
/** The API was called in a way that can never work (a bug in the caller). */
export declare class ApiMisuseError extends DekboxError {}
/** An argument is unusable as given. */
export declare class InvalidArgumentError extends DekboxError {}

/** Error classes by `code` (`ERR_DEKBOX_AUTHENTICATION`, ...). */
export declare const errorsByCode: Readonly<Record<string, typeof DekboxError>>
/** Argon2id costs of `blindIndex`'s `slow: true`: [passes, KiB]. */
export declare const SLOW_INDEX: readonly [number, number]
/** The version of the native library. */
export declare const version: string
