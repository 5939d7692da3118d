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

import asyncio
import functools
import os
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

# The *_async methods run on a Tokio runtime inside the extension. Its threads
# do not survive fork(): in a child of a process that had started it, the same
# calls run in the event loop's executor instead (the sync methods release the
# GIL around I/O), so pre-forking servers keep working.
_runtime = {"started": False, "inherited": False}


def _after_fork_in_child() -> None:
    if _runtime["started"]:
        _runtime["inherited"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


async def _call(native_async, sync, *args, **kwargs):
    if not _runtime["inherited"]:
        _runtime["started"] = True
        return await native_async(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(sync, *args, **kwargs))


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
        return await _call(self._encrypt_async, self.encrypt, data, context=context, aad=aad, text=text)

    async def decrypt_async(
        self, data: _Data, *, context: Optional[Mapping[str, str]] = None,
        aad: Optional[Union[bytes, str]] = None,
    ) -> bytes:
        """Async :meth:`decrypt`."""
        return await _call(self._decrypt_async, self.decrypt, data, context=context, aad=aad)

    async def rewrap_async(
        self, data: Union[bytes, str], *, context: Optional[Mapping[str, str]] = None,
    ) -> Union[bytes, str]:
        """Async :meth:`rewrap`."""
        return await _call(self._rewrap_async, self.rewrap, data, context=context)

    async def generate_data_key_async(self, *, context: Optional[Mapping[str, str]] = None) -> DataKey:
        """Async :meth:`generate_data_key`."""
        return await _call(self._generate_data_key_async, self.generate_data_key, context=context)

    async def unwrap_async(
        self, wrapped: bytes, *, context: Optional[Mapping[str, str]] = None, label: Optional[str] = None,
    ) -> bytes:
        """Async :meth:`unwrap`."""
        return await _call(self._unwrap_async, self.unwrap, wrapped, context=context, label=label)

    async def encrypt_many_async(self, items, *, context=None, aads=None, text=False):
        """Async :meth:`encrypt_many` (the batch runs without holding the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.encrypt_many(items, context=context, aads=aads, text=text))

    async def decrypt_many_async(self, items, *, context=None, aads=None, return_exceptions=False):
        """Async :meth:`decrypt_many` (the batch runs without holding the event loop)."""
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
