"""SQLAlchemy column type: values are sealed with dekbox before they reach the
database and opened when read.

    from sqlalchemy import Column, Integer
    from dekbox.sqlalchemy import Encrypted

    box = dekbox.Box("aws-kms://alias/app?region=eu-west-1")

    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)
        email = Column(Encrypted(box, context={"app": "billing"}, aad="users.email"))

Values are stored in the text form (``dekbox:v1:...``) in a ``Text`` column.
``aad`` binds each value to its column, so a ciphertext copied into another
column does not open. Per-row binding (row id as aad) needs the row, which a
column type does not see: seal in your model code for that. ``str`` values
come back as ``str``; ``bytes`` values as ``bytes`` (``binary=True``).
"""

from typing import Mapping, Optional

from sqlalchemy.types import Text, TypeDecorator

from . import Box


class Encrypted(TypeDecorator):
    """A column whose values are dekbox-sealed text."""

    impl = Text
    cache_ok = True

    def __init__(self, box: Box, *, context: Optional[Mapping[str, str]] = None,
                 aad: Optional[str] = None, binary: bool = False, **kw):
        super().__init__(**kw)
        self.box = box
        self.context = dict(context or {})
        self.aad = aad
        self.binary = binary

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"Encrypted columns hold str or bytes, not {type(value).__name__}")
        return self.box.encrypt(value, context=self.context, aad=self.aad, text=True)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        plain = self.box.decrypt(value, context=self.context, aad=self.aad)
        return plain if self.binary else plain.decode("utf-8")
