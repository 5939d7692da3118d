"""Type stubs for dekbox's native module (re-exported by ``dekbox``)."""

from typing import Any, Awaitable, Dict, Tuple, Iterable, List, Literal, Mapping, Optional, Sequence, Union, overload

_Data = Union[bytes, bytearray, memoryview, str]
class Context:
    """An encryption context converted once, for reuse: ``dekbox.Context({"tenant": "acme"})``.
    Anywhere a ``context=`` mapping is accepted, a Context is too (and is faster)."""
    def __init__(self, mapping: Mapping[str, str]) -> None: ...
    def __len__(self) -> int: ...
    def to_dict(self) -> dict: ...

_Context = Optional[Union[Mapping[str, str], Context]]
_Aad = Optional[Union[bytes, str]]

__version__: str

class Error(Exception):
    """Base class of every dekbox error. ``code`` is a stable string such as ``"AUTHENTICATION"``."""
    code: str

class AuthenticationError(Error):
    """Wrong key, wrong context or aad, or altered data (deliberately indistinguishable)."""

class MalformedError(Error):
    """Not a well-formed dekbox value: truncated, a bad length, unknown version, too large."""

class KmsAccessDenied(Error):
    """The KMS refused the credentials or permissions."""

class KmsThrottled(Error):
    """The KMS rate-limited the request (after dekbox's own retries)."""

class KmsUnavailable(Error):
    """The KMS could not be reached, timed out, or failed internally."""

class KmsIntegrityError(Error):
    """A checksum over a KMS request or answer did not match: corrupted in transit (after dekbox's own retries)."""

class KeyDisabled(Error):
    """The key is disabled or pending deletion."""

class KeyNotFound(Error):
    """The KMS does not know the key."""

class KmsError(Error):
    """Any other KMS error."""

class ConfigError(Error):
    """Invalid configuration: bad key URI, unreadable key file, no credentials."""

class UnknownKeyError(ConfigError):
    """The value names a key that is not in this Box's keyring."""

class ApiMisuseError(Error, ValueError):
    """The API was called in a way that can never work (a bug in the caller)."""

class InvalidArgumentError(Error, ValueError):
    """An argument is unusable as given (e.g. ``aads`` of the wrong length)."""

def _cache_limits(**limits: float) -> Dict[str, Any]: ...
def _cache_disabled() -> Dict[str, Any]: ...

class Box:
    """Envelope encryption with cached data keys. One Box is safe to share across threads.

    ``key`` is a single key URI (``local:///path``, ``local://env/VAR``,
    ``aws-kms://arn:aws:kms:...``, ``aws-kms://alias/NAME?region=R``,
    ``insecure-test-key``); or ``keys`` maps labels to URIs with ``primary``
    naming the key new data is sealed under. With neither, the ``DEKBOX_KEY``
    environment variable names the key (no key at all: ``ConfigError``).
    """
    def __init__(
        self,
        key: Optional[str] = None,
        *,
        keys: Optional[Mapping[str, str]] = None,
        primary: Optional[str] = None,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
        profile: Optional[str] = None,
        fips: bool = False,
        grant_tokens: Optional[Sequence[str]] = None,
        cache: Optional[Any] = None,
        accept_json: bool = False,
        legacy_fallback: bool = False,
        legacy_allow_key_sized: bool = False,
        compat_key: Optional[str] = None,
        max_plaintext: Optional[int] = None,
        roots: Optional[Mapping[str, str]] = None,
        primary_root: Optional[str] = None,
    ) -> None: ...
    def create_root(self, label: str, *, key: Optional[str] = None) -> str:
        """A new root key, wrapped by keyring key ``key`` (default: the primary), as a
        ``dekbox:root:v1:<label>:...`` token to keep in configuration (``roots={label: token}``)."""
    @overload
    def encrypt_compact(self, data: _Data, *, column: str, context: _Context = None, aad: _Aad = None, deterministic: bool = False, text: Literal[False] = False) -> bytes: ...
    @overload
    def encrypt_compact(self, data: _Data, *, column: str, context: _Context = None, aad: _Aad = None, deterministic: bool = False, text: Literal[True]) -> str:
        """Seals under the primary root for (context, column, aad): compact, or with
        ``deterministic=True`` equal for equal input (queryable)."""
    def decrypt_compact(self, data: _Data, *, column: str, context: _Context = None, aad: _Aad = None) -> bytes:
        """Opens a compact or deterministic value with the root it names."""
    def root_labels(self) -> Tuple[List[str], Optional[str]]:
        """The configured root labels and the primary root's."""
    def _blind_index(self, value: _Data, *, column: str, context: _Context = None, bits: int = 256, trim: bool = False, casefold: bool = False, argon2id: Optional[Tuple[int, int]] = None, root: Optional[str] = None) -> bytes: ...
    def _blind_index_async(self, value: _Data, *, column: str, context: _Context = None, bits: int = 256, trim: bool = False, casefold: bool = False, argon2id: Optional[Tuple[int, int]] = None, root: Optional[str] = None) -> Awaitable[bytes]: ...
    def _create_root_async(self, label: str, *, key: Optional[str] = None) -> Awaitable[str]: ...
    def _encrypt_compact_async(self, data: _Data, *, column: str, context: _Context = None, aad: _Aad = None, deterministic: bool = False, text: bool = False) -> Awaitable[Union[bytes, str]]: ...
    def _decrypt_compact_async(self, data: _Data, *, column: str, context: _Context = None, aad: _Aad = None) -> Awaitable[bytes]: ...
    @overload
    def encrypt(self, data: _Data, *, context: _Context = None, aad: _Aad = None, text: Literal[False] = False) -> bytes: ...
    @overload
    def encrypt(self, data: _Data, *, context: _Context = None, aad: _Aad = None, text: Literal[True]) -> str: ...
    def decrypt(self, data: _Data, *, context: _Context = None, aad: _Aad = None) -> bytes: ...
    @overload
    def encrypt_many(self, items: Iterable[_Data], *, context: _Context = None, aads: Optional[Sequence[Union[bytes, str]]] = None, text: Literal[False] = False) -> List[bytes]: ...
    @overload
    def encrypt_many(self, items: Iterable[_Data], *, context: _Context = None, aads: Optional[Sequence[Union[bytes, str]]] = None, text: Literal[True]) -> List[str]: ...
    def decrypt_many(
        self,
        items: Iterable[_Data],
        *,
        context: _Context = None,
        aads: Optional[Sequence[Union[bytes, str]]] = None,
        return_exceptions: bool = False,
    ) -> List[Union[bytes, Error]]: ...
    @overload
    def rewrap(self, data: bytes, *, context: _Context = None) -> bytes: ...
    @overload
    def rewrap(self, data: str, *, context: _Context = None) -> str: ...
    def generate_data_key(self, *, context: _Context = None) -> Tuple[bytes, bytes]: ...
    def unwrap(self, wrapped: bytes, *, context: _Context = None, label: Optional[str] = None) -> bytes: ...
    def message_data_key(self, data: Union[bytes, str], *, context: _Context = None) -> str: ...
    def new_message_data_key(self, *, context: _Context = None) -> str: ...
    def _cache_stats(self) -> Dict[str, int]: ...
    def _encrypt_async(self, data: _Data, *, context: _Context = None, aad: _Aad = None, text: bool = False) -> Awaitable[Union[bytes, str]]: ...
    def _decrypt_async(self, data: _Data, *, context: _Context = None, aad: _Aad = None) -> Awaitable[bytes]: ...
    def _rewrap_async(self, data: Union[bytes, str], *, context: _Context = None) -> Awaitable[Union[bytes, str]]: ...
    def _generate_data_key_async(self, *, context: _Context = None) -> Awaitable[Tuple[bytes, bytes]]: ...
    def _message_data_key_async(self, data: Union[bytes, str], *, context: _Context = None) -> Awaitable[str]: ...
    def _new_message_data_key_async(self, *, context: _Context = None) -> Awaitable[str]: ...
    def _unwrap_async(self, wrapped: bytes, *, context: _Context = None, label: Optional[str] = None) -> Awaitable[bytes]: ...
    def _encrypt_many_async(self, items: Iterable[_Data], *, context: _Context = None, aads: Optional[Iterable[_Aad]] = None, text: bool = False) -> Awaitable[List[Union[bytes, str]]]: ...
    def _decrypt_many_async(self, items: Iterable[_Data], *, context: _Context = None, aads: Optional[Iterable[_Aad]] = None, return_exceptions: bool = False) -> Awaitable[List[Union[bytes, Error]]]: ...
