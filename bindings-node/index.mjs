// ESM entry: the same objects as the CommonJS entry (one realm, one set of
// error classes).
import dekbox from './index.js'

export const {
  Box,
  Context,
  DekboxError,
  MalformedError,
  AuthenticationError,
  KmsAccessDenied,
  KmsThrottled,
  KmsUnavailable,
  KmsIntegrityError,
  KeyDisabled,
  KeyNotFound,
  KmsError,
  ConfigError,
  UnknownKeyError,
  ApiMisuseError,
  InvalidArgumentError,
  errorsByCode,
  SLOW_INDEX,
  version,
} = dekbox
export default dekbox
