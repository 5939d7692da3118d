"""Root keys from Python: compact and deterministic values, blind indexes,
byte for byte the vectors (tests/vectors/root-v1.json), the CLI and another
process; bad input; SQLAlchemy columns and side-column indexes; one KMS
unwrap per root against moto."""

import asyncio
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, declarative_base

import dekbox
from conftest import REPO, require_env
from dekbox.sqlalchemy import BlindIndex, Encrypted

VECTORS = json.loads((REPO / "tests/vectors/root-v1.json").read_text())
TOKEN = VECTORS["root_token"]
EMAIL = "ada@example.com!!"  # 17 bytes
CTX = {"tenant": "acme"}


def box(**kw):
    kw.setdefault("roots", {"r1": TOKEN})
    return dekbox.Box("insecure-test-key", **kw)


def sealed_of(v):
    return v["sealed"] if v["form"] == "text" else bytes.fromhex(v["sealed"])


def test_vectors_open_and_deterministic_values_and_indexes_are_reproduced():
    b = box()
    for v in VECTORS["values"]:
        kw = dict(column=v["column"], context=v["context"], aad=bytes.fromhex(v["aad"]))
        assert b.decrypt_compact(sealed_of(v), **kw) == bytes.fromhex(v["plaintext"]), v["name"]
        if v["mode"] == "deterministic":
            again = b.encrypt_compact(bytes.fromhex(v["plaintext"]), deterministic=True, text=v["form"] == "text", **kw)
            assert again == sealed_of(v), v["name"]
    for v in VECTORS["blind_indexes"]:
        slow = (v["argon2id"]["t_cost"], v["argon2id"]["m_cost"]) if v["argon2id"] else False
        got = b.blind_index(bytes.fromhex(v["value"]), column=v["column"], context=v["context"], bits=v["bits"],
                            trim=v["trim"], casefold=v["casefold"], slow=slow)
        assert got == v["index"], v["name"]
    assert b.cache_stats().kms_calls == 1


def test_compact_values_are_short_and_bound_to_context_column_and_aad():
    b = box()
    v = b.encrypt_compact(EMAIL, column="users.email", context=CTX, aad="users/42", text=True)
    assert v.startswith("dekbox:c1:") and len(v) == 97
    assert len(b.encrypt("x" * 17, context=CTX, aad="users/42", text=True)) > 300
    assert b.decrypt_compact(v, column="users.email", context=CTX, aad="users/42") == EMAIL.encode()
    for kw in (dict(context={"tenant": "globex"}), dict(column="users.phone"), dict(aad="users/43")):
        args = dict(column="users.email", context=CTX, aad="users/42") | kw
        with pytest.raises(dekbox.AuthenticationError):
            b.decrypt_compact(v, **args)
    # Randomized: two sealings differ; binary form works too.
    assert b.encrypt_compact(EMAIL, column="users.email", context=CTX, text=True) != \
        b.encrypt_compact(EMAIL, column="users.email", context=CTX, text=True)
    raw = b.encrypt_compact(EMAIL.encode(), column="c", context=CTX)
    assert isinstance(raw, bytes) and b.decrypt_compact(raw, column="c", context=CTX) == EMAIL.encode()
    assert dekbox.Box("insecure-test-key", roots={"r1": TOKEN}).root_labels() == (["r1"], "r1")


def test_bad_input_gives_typed_errors():
    b = box()
    v = b.encrypt_compact(EMAIL, column="c", context=CTX)
    for i in range(len(v)):
        bad = bytearray(v)
        bad[i] ^= 0x01
        with pytest.raises((dekbox.AuthenticationError, dekbox.MalformedError, dekbox.UnknownKeyError)):
            b.decrypt_compact(bytes(bad), column="c", context=CTX)
    for n in range(len(v)):
        with pytest.raises((dekbox.MalformedError, dekbox.AuthenticationError, dekbox.UnknownKeyError)):
            b.decrypt_compact(v[:n], column="c", context=CTX)
    with pytest.raises(dekbox.MalformedError):
        b.decrypt_compact(v[:10], column="c", context=CTX)
    # Oversized, before decoding.
    small = box(max_plaintext=16)
    with pytest.raises(dekbox.MalformedError):
        small.encrypt_compact(EMAIL, column="c", context=CTX)
    with pytest.raises(dekbox.MalformedError):
        small.decrypt_compact(b.encrypt_compact("x" * 64, column="c", context=CTX, text=True), column="c", context=CTX)
    # Another root under the same label: the commitment refuses it.
    impostor = box(roots={"r1": box().create_root("r1")})
    with pytest.raises(dekbox.AuthenticationError):
        impostor.decrypt_compact(v, column="c", context=CTX)
    # A root this Box does not have; no roots at all; a message operation.
    with pytest.raises(dekbox.UnknownKeyError):
        box(roots={"r2": b.create_root("r2")}).decrypt_compact(v, column="c", context=CTX)
    with pytest.raises(dekbox.ConfigError, match="no root keys"):
        dekbox.Box("insecure-test-key").encrypt_compact("x", column="c")
    with pytest.raises(dekbox.MalformedError, match="decrypt_compact"):
        b.decrypt(v, context=CTX)
    with pytest.raises(dekbox.ConfigError):
        dekbox.Box("insecure-test-key", roots={"r1": "dekbox:root:v1:r1:AAAA"})
    with pytest.raises(dekbox.ConfigError, match="labelled"):
        dekbox.Box("insecure-test-key", roots={"other": TOKEN})
    with pytest.raises(dekbox.ApiMisuseError):
        b.blind_index("x", column="c", bits=0)
    with pytest.raises(TypeError):
        b.encrypt_compact("x")  # column is required


def test_deterministic_values_match_the_cli_and_another_process():
    b = box()
    mine = b.encrypt_compact(EMAIL, column="users.email", context=CTX, deterministic=True, text=True)
    cli = subprocess.run(
        [os.environ["DEKBOX_CLI"], "encrypt", "--key", "insecure-test-key", "--root", f"r1={TOKEN}",
         "--mode", "deterministic", "--column", "users.email", "--context", "tenant=acme"],
        input=EMAIL.encode(), capture_output=True, check=True)
    assert cli.stdout.decode().strip() == mine
    code = ("import dekbox, json, sys; t = sys.argv[1]; b = dekbox.Box('insecure-test-key', roots={'r1': t});"
            "print(b.encrypt_compact('ada@example.com!!', column='users.email', context={'tenant': 'acme'},"
            " deterministic=True, text=True)); print(b.blind_index(' ADA@example.com!!', column='users.email',"
            " context={'tenant': 'acme'}, bits=64, trim=True, casefold=True))")
    out = subprocess.run([sys.executable, "-c", code, TOKEN], capture_output=True, check=True, text=True).stdout.split()
    assert out[0] == mine
    assert out[1] == b.blind_index(EMAIL, column="users.email", context=CTX, bits=64, trim=True, casefold=True)
    # Isolation: other tenants and columns share nothing.
    other = b.encrypt_compact(EMAIL, column="users.email", context={"tenant": "globex"}, deterministic=True, text=True)
    assert other != mine and other[-40:] != mine[-40:]
    assert b.blind_index(EMAIL, column="users.email", context={"tenant": "globex"}) != b.blind_index(EMAIL, column="users.email", context=CTX)
    assert b.blind_index(EMAIL, column="users.backup", context=CTX) != b.blind_index(EMAIL, column="users.email", context=CTX)


def test_blind_index_options():
    b = box()
    assert len(b.blind_index(EMAIL, column="c")) == 64
    assert len(b.blind_index(EMAIL, column="c", bits=12)) == 4
    assert isinstance(b.blind_index(EMAIL, column="c", hex=False), bytes)
    assert b.blind_index(" A ", column="c", normalize=str.strip) == b.blind_index("A", column="c")
    assert b.blind_index("Ångström", column="c", casefold=True) == b.blind_index("ångström", column="c")
    slow = b.blind_index("1984", column="year", slow=(1, 64))
    assert slow != b.blind_index("1984", column="year") and slow == b.blind_index("1984", column="year", slow=(1, 64))
    assert len(b.blind_index("1984", column="year", slow=True, bits=32)) == 8
    for bad in ((3.9, 64), ("3", 64), (True, 64)):
        with pytest.raises(TypeError):
            b.blind_index("1984", column="year", slow=bad)
    with pytest.raises(TypeError):
        b.blind_index("1984", column="year", bits=True)
    with pytest.raises(dekbox.ApiMisuseError):
        b.blind_index("1984", column="year", slow=(0, 0))


def test_async_variants():
    async def main():
        b = box()
        v = await b.encrypt_compact_async(EMAIL, column="c", context=CTX, deterministic=True, text=True)
        assert v == b.encrypt_compact(EMAIL, column="c", context=CTX, deterministic=True, text=True)
        assert await b.decrypt_compact_async(v, column="c", context=CTX) == EMAIL.encode()
        assert await b.blind_index_async(EMAIL, column="c", bits=32) == b.blind_index(EMAIL, column="c", bits=32)
        t = await b.create_root_async("r2")
        assert t.startswith("dekbox:root:v1:r2:")
        with pytest.raises(dekbox.AuthenticationError):
            await b.decrypt_compact_async(v, column="d", context=CTX)
    asyncio.run(main())


def test_sqlalchemy_columns_and_a_blind_index_side_column(tmp_path):
    db = f"sqlite:///{tmp_path / 'app.db'}"

    def model(b):
        Base = declarative_base()
        email_index = BlindIndex(b, column="users.email", bits=64, trim=True, casefold=True)

        class User(Base):
            __tablename__ = "users"
            id = sa.Column(sa.Integer, primary_key=True)
            email = sa.Column(Encrypted(b, mode="compact", column="users.email", context=CTX))
            email_bidx = sa.Column(email_index.type(), index=True)
            ssn = sa.Column(Encrypted(b, mode="deterministic", column="users.ssn", context=CTX), unique=True)
            note = sa.Column(Encrypted(b, context=CTX, aad="users.note"))

        email_index.attach(User.email, User.email_bidx)
        return Base, User, email_index

    Base, User, email_index = model(box())
    engine = sa.create_engine(db)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([User(email="ada@example.com", ssn="078-05-1120", note="first"),
                   User(email="bob@example.com", ssn="219-09-9999", note=None)])
        s.commit()
        # A second Box (another process would do the same) finds both rows.
    _, User2, index2 = model(box())
    with Session(engine) as s:
        u = s.query(User2).filter(User2.email_bidx == index2("  ADA@Example.com ")).one()
        assert (u.email, u.ssn, u.note) == ("ada@example.com", "078-05-1120", "first")
        assert s.query(User2).filter(User2.ssn == "219-09-9999").one().email == "bob@example.com"
        assert s.query(User2).filter(User2.ssn == "000-00-0000").first() is None
        # Uniqueness on the deterministic column holds.
        s.add(User2(email="eve@example.com", ssn="078-05-1120"))
        with pytest.raises(sa.exc.IntegrityError):
            s.commit()
    raw = sa.create_engine(db).connect().execute(sa.text("select email, email_bidx, ssn, note from users")).fetchall()
    flat = " ".join(str(c) for row in raw for c in row)
    for secret in ("ada@", "bob@", "078-05", "219-09", "first"):
        assert secret not in flat
    assert all(r[0].startswith("dekbox:c1:") and r[2].startswith("dekbox:c1:") for r in raw)
    with pytest.raises(ValueError, match="column="):
        Encrypted(box(), mode="deterministic")


def test_one_kms_unwrap_per_root_against_moto(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import botocore.session
    url = require_env("DEKBOX_TEST_MOTO_URL")
    kms = botocore.session.get_session().create_client(
        "kms", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = kms.create_key(Description="roots")["KeyMetadata"]["Arn"]
    creator = dekbox.Box(f"aws-kms://{arn}", endpoint=url)
    token = creator.create_root("prod")
    assert creator.cache_stats().kms_calls == 1
    b = dekbox.Box(f"aws-kms://{arn}", endpoint=url, roots={"prod": token})
    values = [b.encrypt_compact(f"user{i}@example.com", column="users.email", context=CTX, deterministic=True, text=True)
              for i in range(200)]
    assert [b.decrypt_compact(v, column="users.email", context=CTX) for v in values] == \
        [f"user{i}@example.com".encode() for i in range(200)]
    b.blind_index("x", column="c")
    assert b.cache_stats().kms_calls == 1
    # The root is bound to its label by the KMS: relabelled, it does not unwrap.
    relabelled = token.replace("dekbox:root:v1:prod:", "dekbox:root:v1:stage:")
    with pytest.raises(dekbox.AuthenticationError):
        dekbox.Box(f"aws-kms://{arn}", endpoint=url, roots={"stage": relabelled}).encrypt_compact("x", column="c")
