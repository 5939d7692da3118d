"""SQLAlchemy helpers: encrypted columns and blind indexes.

    from sqlalchemy import Column, Integer, String
    from dekbox.sqlalchemy import BlindIndex, Encrypted

    box = dekbox.Box("aws-kms://alias/app?region=eu-west-1", roots={"r1": ROOT_TOKEN})
    email_index = BlindIndex(box, column="users.email", bits=64, trim=True, casefold=True)

    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)
        email = Column(Encrypted(box, mode="compact", column="users.email"))
        email_bidx = Column(email_index.type(), index=True)
        ssn = Column(Encrypted(box, mode="deterministic", column="users.ssn"))

    email_index.attach(User.email, User.email_bidx)   # kept in step on assignment

    session.query(User).filter(User.email_bidx == email_index(" Ada@Example.com"))
    session.query(User).filter(User.ssn == "078-05-1120")   # deterministic: equality works

Values are stored in text form in a ``Text`` column: ``mode="message"``
(default) seals each value as a dekbox message with its own wrapped data key
(``dekbox:v1:...``); ``"compact"`` and ``"deterministic"`` seal under the
Box's primary root (``dekbox:c1:...``, about a third of the size), the
latter equal for equal values so the database can compare them. ``column``
names the column in their key derivation, so a value copied into another
column does not open. ``aad`` binds message values to their column the same
way. ``str`` values come back as ``str``; ``bytes`` values as ``bytes``
(``binary=True``).
"""

from typing import Callable, Mapping, Optional, Tuple, Union

from sqlalchemy import event
from sqlalchemy.types import String, Text, TypeDecorator

from . import Box

_MODES = ("message", "compact", "deterministic")


class Encrypted(TypeDecorator):
    """A column whose values are dekbox-sealed text."""

    impl = Text
    cache_ok = True

    def __init__(self, box: Box, *, context: Optional[Mapping[str, str]] = None,
                 aad: Optional[str] = None, binary: bool = False, mode: str = "message",
                 column: Optional[str] = None, **kw):
        super().__init__(**kw)
        if mode not in _MODES:
            raise ValueError(f"mode is one of {', '.join(_MODES)}, not {mode!r}")
        if mode != "message" and not column:
            raise ValueError(f"a {mode} column needs column= (its label in the key derivation)")
        self.box = box
        self.context = dict(context or {})
        self.aad = aad
        self.binary = binary
        self.mode = mode
        self.column = column

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"Encrypted columns hold str or bytes, not {type(value).__name__}")
        if self.mode == "message":
            return self.box.encrypt(value, context=self.context, aad=self.aad, text=True)
        return self.box.encrypt_compact(
            value, column=self.column, context=self.context, aad=self.aad,
            deterministic=self.mode == "deterministic", text=True,
        )

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if self.mode == "message":
            plain = self.box.decrypt(value, context=self.context, aad=self.aad)
        else:
            plain = self.box.decrypt_compact(value, column=self.column, context=self.context, aad=self.aad)
        return plain if self.binary else plain.decode("utf-8")


class BlindIndex:
    """A blind index of one attribute, kept in a side column: ``index(value)``
    computes it (for queries), ``attach(Model.attr, Model.attr_bidx)`` keeps the
    side column in step whenever the attribute is assigned, and ``type()`` is
    the side column's type (hex of ``bits`` bits)."""

    def __init__(self, box: Box, *, column: str, context: Optional[Mapping[str, str]] = None,
                 bits: int = 64, trim: bool = False, casefold: bool = False,
                 normalize: Optional[Callable[[str], str]] = None,
                 slow: Union[bool, Tuple[int, int]] = False, root: Optional[str] = None):
        self.box = box
        self.column = column
        self.context = dict(context or {})
        self.bits = bits
        self.trim = trim
        self.casefold = casefold
        self.normalize = normalize
        self.slow = slow
        self.root = root

    def __call__(self, value: Union[str, bytes]) -> str:
        """The index of ``value`` (hex)."""
        return self.box.blind_index(
            value, column=self.column, context=self.context, bits=self.bits, trim=self.trim,
            casefold=self.casefold, normalize=self.normalize, slow=self.slow, root=self.root,
        )

    def type(self) -> String:
        """The side column's type: ``String`` of the index's hex length."""
        return String((self.bits + 3) // 4)

    def attach(self, source, target) -> None:
        """Sets ``target`` (an index column attribute) from ``source`` whenever
        ``source`` is assigned on an instance (``None`` stays ``None``)."""
        key = target.key

        def on_set(obj, value, _old, _initiator):
            setattr(obj, key, None if value is None else self(value))

        event.listen(source, "set", on_set)
