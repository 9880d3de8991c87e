"""Opaque global ids (Relay's base64 of "Type:id") and their strict decoding."""

from __future__ import annotations

from citylinks.schema.errors import bad_input
from strawberry.relay import GlobalID, GlobalIDValueError

NODE_TYPES = ("City", "Country", "Partnership", "Sector", "Organization")
# Keys are the database's INTEGER (4 bytes on PostgreSQL). A well-formed id with a larger
# key names no object: it is looked up as NO_SUCH_KEY, which no row has, so it answers
# null or NOT_FOUND as any missing object does (bound as is, it overflowed the driver).
MAX_KEY = 2**31 - 1
NO_SUCH_KEY = 0


def encode_id(type_name: str, pk: int) -> str:
    return str(GlobalID(type_name, str(pk)))


def decode_any(value: str, field: str = "id") -> tuple[str, int]:
    """(type name, primary key); a malformed id is BAD_USER_INPUT naming `field`."""
    try:
        gid = GlobalID.from_id(value)
        pk = int(gid.node_id)
    except (GlobalIDValueError, ValueError, TypeError):
        raise bad_input(f"{value!r} is not a valid id", field) from None
    if gid.type_name not in NODE_TYPES or pk <= 0 or str(pk) != gid.node_id:
        raise bad_input(f"{value!r} is not a valid id", field)
    return gid.type_name, pk if pk <= MAX_KEY else NO_SUCH_KEY


def decode_id(value: str, type_name: str, field: str = "id") -> int:
    """The primary key of an id of `type_name`; an id of another type is BAD_USER_INPUT."""
    found, pk = decode_any(value, field)
    if found != type_name:
        raise bad_input(f"{value!r} is a {found} id, expected a {type_name} id", field)
    return pk
