"""Threads, asyncio and fork."""

import asyncio
import os
import threading

import dekbox

CTX = {"tenant": "t"}


def test_sixteen_threads_share_one_box():
    box = dekbox.Box("insecure-test-key", cache=dekbox.CacheConfig(max_messages=500))
    errors, results = [], {}

    def work(n):
        try:
            out = []
            for i in range(400):
                pt = f"{n}:{i}".encode() * (1 + i % 20)  # some inputs above the GIL-release threshold
                s = box.encrypt(pt, context=CTX, aad=str(i))
                out.append((pt, s))
            for i, (pt, s) in enumerate(out):
                assert box.decrypt(s, context=CTX, aad=str(i)) == pt
            results[n] = len(out)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(results.values()) == 16 * 400
    st = box.cache_stats()
    assert st.encrypt_hits + st.encrypt_misses == 16 * 400
    assert st.data_keys_generated >= 16 * 400 // 500


def test_asyncio_gather_of_a_thousand_encrypts():
    box = dekbox.Box("insecure-test-key")

    async def main():
        sealed = await asyncio.gather(*(box.encrypt_async(f"v{i}", context=CTX, text=True) for i in range(1000)))
        opened = await asyncio.gather(*(box.decrypt_async(s, context=CTX) for s in sealed))
        batch = await box.encrypt_many_async([b"a", b"b"], context=CTX)
        dk = await box.generate_data_key_async(context=CTX)
        raw = await box.unwrap_async(dk.wrapped, context=CTX)
        return sealed, opened, batch, dk, raw

    assert asyncio.iscoroutinefunction(dekbox.Box.encrypt_async)
    sealed, opened, batch, dk, raw = asyncio.run(main())
    assert opened == [f"v{i}".encode() for i in range(1000)]
    assert len(set(sealed)) == 1000
    assert box.decrypt_many(batch, context=CTX) == [b"a", b"b"]
    assert raw == dk.plaintext
    st = box.cache_stats()
    assert st.encrypt_misses == 1 and st.decrypt_misses == 1


def test_async_errors_are_dekbox_exceptions():
    box = dekbox.Box("insecure-test-key")
    sealed = box.encrypt(b"x", context=CTX)

    async def main():
        return await box.decrypt_async(sealed, context={"tenant": "other"})

    try:
        asyncio.run(main())
    except dekbox.AuthenticationError as e:
        assert e.code == "AUTHENTICATION"
    else:
        raise AssertionError("expected AuthenticationError")


def test_forked_child_never_reuses_the_parents_nonce_space():
    box = dekbox.Box("insecure-test-key")
    parent = box.encrypt(b"parent", context=CTX)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.write(w, box.encrypt(b"child", context=CTX))
        finally:
            os._exit(0)
    os.close(w)
    child = b""
    while chunk := os.read(r, 65536):
        child += chunk
    os.waitpid(pid, 0)
    # Same data key (no KMS call in the child), different salt: a fresh AES key.
    assert parent[5:37] != child[5:37], "child reused the parent's salt"
    assert box.decrypt(child, context=CTX) == b"child"
    assert box.encrypt(b"again", context=CTX)[5:37] == parent[5:37]


def _in_child(fn, timeout=20):
    """Runs fn in a forked child; returns its exit code (124 on a hang)."""
    import signal
    pid = os.fork()
    if pid == 0:
        signal.alarm(timeout)  # a hang kills the child with SIGALRM
        try:
            fn()
            os._exit(0)
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 124
    return os.waitstatus_to_exitcode(status)


def test_async_works_in_a_child_forked_after_the_parent_used_it():
    box = dekbox.Box("insecure-test-key")
    assert asyncio.run(box.encrypt_async(b"parent", context=CTX))

    def child():
        async def main():
            s = await asyncio.wait_for(box.encrypt_async(b"child", context=CTX), 10)
            assert await asyncio.wait_for(box.decrypt_async(s, context=CTX), 10) == b"child"
        asyncio.run(main())

    assert _in_child(child) == 0


def test_cancelled_async_calls_do_not_break_the_box():
    box = dekbox.Box("insecure-test-key")

    async def main():
        task = asyncio.ensure_future(box.encrypt_async(b"x" * 100_000, context=CTX))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        # Later calls, and many at once, still complete.
        return await asyncio.wait_for(
            asyncio.gather(*(box.encrypt_async(b"y", context=CTX) for _ in range(50))), 10)

    sealed = asyncio.run(main())
    assert [box.decrypt(s, context=CTX) for s in sealed] == [b"y"] * 50
