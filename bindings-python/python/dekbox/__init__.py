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

from typing import Mapping, Optional, Union

from . import _native
from ._native import (
    AuthenticationError,
    CacheConfig,
    CacheStats,
    ConfigError,
    Context,
    DataKey,
    Error,
    KeyDisabled,
    KeyNotFound,
    KmsAccessDenied,
    KmsError,
    KmsThrottled,
    KmsUnavailable,
    MalformedError,
    UnknownKeyError,
    __version__,
)

_Data = Union[bytes, bytearray, memoryview, str]


class Box(_native.Box):
    """Envelope encryption with cached data keys. Share one Box across threads.

    ``key`` is one key URI (``local:///path``, ``local://env/VAR``,
    ``aws-kms://arn:aws:kms:...``, ``aws-kms://alias/NAME?region=R``,
    ``insecure-test-key``); or pass ``keys={"v1": uri, "v2": uri}`` and
    ``primary="v2"``. See the package README for every option.

    The ``*_async`` methods are coroutines for asyncio; the work runs on
    dekbox's own Tokio runtime, not in a thread pool.
    """

    __slots__ = ()

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
        return await self._generate_data_key_async(context=context)

    async def unwrap_async(
        self, wrapped: bytes, *, context: Optional[Mapping[str, str]] = None, label: Optional[str] = None,
    ) -> bytes:
        """Async :meth:`unwrap`."""
        return await self._unwrap_async(wrapped, context=context, label=label)

    async def encrypt_many_async(self, items, *, context=None, aads=None, text=False):
        """Async :meth:`encrypt_many` (the batch runs without holding the event loop)."""
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.encrypt_many(items, context=context, aads=aads, text=text))

    async def decrypt_many_async(self, items, *, context=None, aads=None, return_exceptions=False):
        """Async :meth:`decrypt_many` (the batch runs without holding the event loop)."""
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.decrypt_many(items, context=context, aads=aads, return_exceptions=return_exceptions))


__all__ = [
    "AuthenticationError",
    "Box",
    "CacheConfig",
    "CacheStats",
    "ConfigError",
    "Context",
    "DataKey",
    "Error",
    "KeyDisabled",
    "KeyNotFound",
    "KmsAccessDenied",
    "KmsError",
    "KmsThrottled",
    "KmsUnavailable",
    "MalformedError",
    "UnknownKeyError",
    "__version__",
]
