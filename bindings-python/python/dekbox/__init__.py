"""dekbox: envelope encryption with KMS-wrapped, cached data keys.

Data is sealed locally with AES-256-GCM under a data key; only the data key is
wrapped by your KMS (or a local key), and the wrapped key travels inside each
value. Values are byte-identical with dekbox in Rust, Node, Ruby and the browser.

    import dekbox

    box = dekbox.Box("local:///etc/dekbox/app.key")          # or "aws-kms://arn:aws:kms:..."
    token = box.encrypt("alice@example.com", context={"tenant": "acme"}, aad=b"users/42", text=True)
    email = box.decrypt(token, context={"tenant": "acme"}, aad=b"users/42")   # b"alice@example.com"

Errors derive from :class:`dekbox.Error`; a wrong key, context or aad and any
tampering all raise :class:`dekbox.AuthenticationError`.
"""

from typing import Callable, Mapping, NamedTuple, Optional, Tuple, Union

from . import _native
from ._native import (
    ApiMisuseError,
    AuthenticationError,
    ConfigError,
    Context,
    Error,
    InvalidArgumentError,
    KeyDisabled,
    KeyNotFound,
    KmsAccessDenied,
    KmsError,
    KmsIntegrityError,
    KmsThrottled,
    KmsUnavailable,
    MalformedError,
    UnknownKeyError,
    __version__,
)

_Data = Union[bytes, bytearray, memoryview, str]

#: Argon2id settings of the blind_index gem's ``slow`` option: 3 passes over 4 MiB.
SLOW_INDEX = (3, 4096)


def _argon2id(slow: Union[bool, Tuple[int, int]]) -> Optional[Tuple[int, int]]:
    if slow is True:
        return SLOW_INDEX
    if slow is False or slow is None:
        return None
    t_cost, m_cost = slow
    for cost in (t_cost, m_cost):
        if not isinstance(cost, int) or isinstance(cost, bool):
            raise TypeError(f"slow must be True or (t_cost, m_cost_kib) integers, not {slow!r}")
    return (t_cost, m_cost)


def _resolve(future, ok, value):
    """Completes an asyncio future from dekbox's runtime (on the loop's thread)."""
    if not future.cancelled():
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class CacheConfig:
    """Data-key cache limits (times in seconds). Limits not given keep dekbox's
    defaults; unknown names and negative durations raise ``ValueError``."""

    __slots__ = ("_limits",)

    def __init__(self, **limits: float) -> None:
        self._limits = _native._cache_limits(**limits)

    @classmethod
    def disabled(cls) -> "CacheConfig":
        """No data-key reuse and no unwrapped-key cache: every call reaches the KMS."""
        config = cls.__new__(cls)
        config._limits = _native._cache_disabled()
        return config

    @property
    def max_age(self) -> float:
        return self._limits["max_age"]

    @property
    def max_messages(self) -> int:
        return self._limits["max_messages"]

    @property
    def max_bytes(self) -> int:
        return self._limits["max_bytes"]

    @property
    def encrypt_capacity(self) -> int:
        return self._limits["encrypt_capacity"]

    @property
    def decrypt_capacity(self) -> int:
        return self._limits["decrypt_capacity"]

    @property
    def decrypt_ttl(self) -> float:
        return self._limits["decrypt_ttl"]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CacheConfig) and other._limits == self._limits

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._limits.items())))

    def __repr__(self) -> str:
        return "CacheConfig(" + ", ".join(f"{k}={v}" for k, v in self._limits.items()) + ")"


class CacheStats(NamedTuple):
    """Counters of a Box's caches and KMS calls."""

    encrypt_hits: int
    encrypt_misses: int
    decrypt_hits: int
    decrypt_misses: int
    kms_calls: int
    data_keys_generated: int


class DataKey(NamedTuple):
    """A data key: ``plaintext`` (32 secret bytes: never log or store it) and
    ``wrapped`` (store it next to your ciphertext)."""

    plaintext: bytes
    wrapped: bytes

    def __repr__(self) -> str:
        return f"DataKey(plaintext=<redacted>, wrapped=<{len(self.wrapped)} bytes>)"


class Box(_native.Box):
    """Envelope encryption with cached data keys. Share one Box across threads.

    ``key`` is one key URI (``local:///path``, ``local://env/VAR``,
    ``aws-kms://arn:aws:kms:...``, ``aws-kms://alias/NAME?region=R``,
    ``insecure-test-key``); or pass ``keys={"v1": uri, "v2": uri}`` and
    ``primary="v2"``; with neither, the ``DEKBOX_KEY`` environment variable
    names the key. See the package README for every option.

    The ``*_async`` methods are coroutines for asyncio; the work runs on
    dekbox's own runtime (one per process, rebuilt after ``fork()``), not in a
    thread pool.
    """

    __slots__ = ()

    def cache_stats(self) -> CacheStats:
        """Cache and KMS counters."""
        stats = self._cache_stats()
        return CacheStats(*(stats[f] for f in CacheStats._fields))

    def generate_data_key(self, *, context: Optional[Mapping[str, str]] = None) -> DataKey:
        """A fresh data key under the primary key (not cached), for sealing data yourself."""
        return DataKey(*super().generate_data_key(context=context))

    def blind_index(
        self, value: _Data, *, column: str, context: Optional[Mapping[str, str]] = None,
        bits: int = 256, trim: bool = False, casefold: bool = False,
        normalize: Optional[Callable[[str], str]] = None,
        slow: Union[bool, Tuple[int, int]] = False, root: Optional[str] = None, hex: bool = True,
    ) -> Union[str, bytes]:
        """The blind index of ``value`` under the primary root (or ``root``) for
        (``context``, ``column``): a keyed digest truncated to ``bits``, for
        equality search over an encrypted column (keep it in a side column).

        ``trim`` and ``casefold`` normalize in Rust, identically in every
        runtime; ``normalize`` is your own hook, applied first (to str values).
        ``slow=True`` uses Argon2id (3 passes, 4 MiB; or give ``(t_cost,
        m_cost_kib)``) for low-entropy values. Few bits collide on purpose.
        Returns hex (``hex=False``: bytes)."""
        if isinstance(bits, bool):
            raise TypeError("bits must be an integer, not a bool")
        if normalize is not None:
            value = normalize(value)
        index = self._blind_index(
            value, column=column, context=context, bits=bits, trim=trim,
            casefold=casefold, argon2id=_argon2id(slow), root=root,
        )
        return index.hex() if hex else index

    async def blind_index_async(
        self, value: _Data, *, column: str, context: Optional[Mapping[str, str]] = None,
        bits: int = 256, trim: bool = False, casefold: bool = False,
        normalize: Optional[Callable[[str], str]] = None,
        slow: Union[bool, Tuple[int, int]] = False, root: Optional[str] = None, hex: bool = True,
    ) -> Union[str, bytes]:
        """Async :meth:`blind_index`."""
        if normalize is not None:
            value = normalize(value)
        index = await self._blind_index_async(
            value, column=column, context=context, bits=bits, trim=trim,
            casefold=casefold, argon2id=_argon2id(slow), root=root,
        )
        return index.hex() if hex else index

    async def create_root_async(self, label: str, *, key: Optional[str] = None) -> str:
        """Async :meth:`create_root`."""
        return await self._create_root_async(label, key=key)

    async def encrypt_compact_async(
        self, data: _Data, *, column: str, context: Optional[Mapping[str, str]] = None,
        aad: Optional[Union[bytes, str]] = None, deterministic: bool = False, text: bool = False,
    ) -> Union[bytes, str]:
        """Async :meth:`encrypt_compact`."""
        return await self._encrypt_compact_async(
            data, column=column, context=context, aad=aad, deterministic=deterministic, text=text,
        )

    async def decrypt_compact_async(
        self, data: _Data, *, column: str, context: Optional[Mapping[str, str]] = None,
        aad: Optional[Union[bytes, str]] = None,
    ) -> bytes:
        """Async :meth:`decrypt_compact`."""
        return await self._decrypt_compact_async(data, column=column, context=context, aad=aad)

    async def encrypt_async(
        self, data: _Data, *, context: Optional[Mapping[str, str]] = None,
        aad: Optional[Union[bytes, str]] = None, text: bool = False,
    ) -> Union[bytes, str]:
        """Async :meth:`encrypt`."""
        return await self._encrypt_async(data, context=context, aad=aad, text=text)

    async def decrypt_async(
        self, data: _Data, *, context: Optional[Mapping[str, str]] = None,
        aad: Optional[Union[bytes, str]] = None,
    ) -> bytes:
        """Async :meth:`decrypt`."""
        return await self._decrypt_async(data, context=context, aad=aad)

    async def rewrap_async(
        self, data: Union[bytes, str], *, context: Optional[Mapping[str, str]] = None,
    ) -> Union[bytes, str]:
        """Async :meth:`rewrap`."""
        return await self._rewrap_async(data, context=context)

    async def generate_data_key_async(self, *, context: Optional[Mapping[str, str]] = None) -> DataKey:
        """Async :meth:`generate_data_key`."""
        return DataKey(*(await self._generate_data_key_async(context=context)))

    async def message_data_key_async(
        self, data: Union[bytes, str], *, context: Optional[Mapping[str, str]] = None,
    ) -> str:
        """Async :meth:`message_data_key`."""
        return await self._message_data_key_async(data, context=context)

    async def new_message_data_key_async(self, *, context: Optional[Mapping[str, str]] = None) -> str:
        """Async :meth:`new_message_data_key`."""
        return await self._new_message_data_key_async(context=context)

    async def unwrap_async(
        self, wrapped: bytes, *, context: Optional[Mapping[str, str]] = None, label: Optional[str] = None,
    ) -> bytes:
        """Async :meth:`unwrap`."""
        return await self._unwrap_async(wrapped, context=context, label=label)

    async def encrypt_many_async(self, items, *, context=None, aads=None, text=False):
        """Async :meth:`encrypt_many`."""
        return await self._encrypt_many_async(items, context=context, aads=aads, text=text)

    async def decrypt_many_async(self, items, *, context=None, aads=None, return_exceptions=False):
        """Async :meth:`decrypt_many`."""
        return await self._decrypt_many_async(items, context=context, aads=aads, return_exceptions=return_exceptions)


__all__ = [
    "ApiMisuseError",
    "AuthenticationError",
    "Box",
    "CacheConfig",
    "CacheStats",
    "ConfigError",
    "Context",
    "DataKey",
    "Error",
    "InvalidArgumentError",
    "KeyDisabled",
    "KeyNotFound",
    "KmsAccessDenied",
    "KmsError",
    "KmsIntegrityError",
    "KmsThrottled",
    "KmsUnavailable",
    "MalformedError",
    "SLOW_INDEX",
    "UnknownKeyError",
    "__version__",
]
