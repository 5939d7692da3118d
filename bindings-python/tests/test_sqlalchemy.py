"""dekbox.sqlalchemy.Encrypted against an in-memory SQLite database."""

import pytest
from sqlalchemy import Column, Integer, Text, create_engine, select, text
from sqlalchemy.orm import Session, declarative_base

import dekbox
from dekbox.sqlalchemy import Encrypted

box = dekbox.Box("insecure-test-key")
Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    email = Column(Encrypted(box, context={"app": "test"}, aad="users.email"))
    note = Column(Encrypted(box, context={"app": "test"}, aad="users.note"))
    plain = Column(Text)


def test_values_are_sealed_at_rest_and_opened_on_read():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(id=1, email="alice@example.com", note=None, plain="x"))
        s.commit()
        raw = s.execute(text("select email, note from users")).one()
        assert raw.email.startswith("dekbox:v1:") and "alice" not in raw.email
        assert raw.note is None
        assert s.scalars(select(User)).one().email == "alice@example.com"
        # A value moved into another column does not open there.
        s.execute(text("update users set note = email"))
        s.commit()
        s.expire_all()
        with pytest.raises(dekbox.AuthenticationError):
            s.scalars(select(User)).one()


def test_wrong_types_are_refused():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(id=2, email=42))
        with pytest.raises(Exception, match="hold str or bytes"):
            s.commit()
