"""Turning request bodies, query strings and path segments into checked values.

Bodies are pydantic models in strict mode with unknown fields forbidden; their
errors become one 422 whose `details` name every offending field.
"""

from __future__ import annotations

import math
import re
import typing
import urllib.parse
from typing import Annotated, Any, TypeVar

import pydantic
from aiohttp import web
from pydantic_core import PydanticCustomError

from chaat import errors, keys

Model = TypeVar("Model", bound=pydantic.BaseModel)

MAX_ID = 2**63 - 1
"""Ids are PostgreSQL bigints; anything larger cannot name a row."""

# Unicode's White_Space property. str.isspace() differs: it also counts
# U+001C..U+001F, which Unicode does not call white space.
WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def is_blank(text: str) -> bool:
    """Whether text is empty or only Unicode white space."""
    return all(ch in WHITE_SPACE for ch in text)


def has_white_space(text: str) -> bool:
    """Whether text holds any Unicode white space."""
    return any(ch in WHITE_SPACE for ch in text)


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate
    # (which JSON's \ud800 escapes can produce): refuse both rather than fail later.
    if "\x00" in text:
        raise PydanticCustomError("invalid_text", "must not contain the NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_text", "must be valid Unicode text") from None
    return text


Storable = pydantic.AfterValidator(_storable)
"""Put it after any length limit, `Annotated[str, Field(max_length=64), Storable]`, so
that pydantic checks the limit in the string schema and speaks of characters."""

Text = Annotated[str, Storable]
"""A string PostgreSQL can store exactly as sent."""

_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{2,31}")


def is_username(text: str) -> bool:
    """Whether text has the shape of a username."""
    return _USERNAME.fullmatch(text) is not None


def _username(value: str) -> str:
    if not is_username(value):
        raise PydanticCustomError(
            "invalid_username",
            "must be 3 to 32 characters of A-Z a-z 0-9 _ . - and start with a letter",
        )
    return value


Username = Annotated[str, pydantic.AfterValidator(_username)]


def _whole(value: Any) -> Any:
    # JSON has one kind of number: 2.0 and 2e0 are the integer 2, as JSON Schema (and so
    # openapi.json) says. Only a number with a fraction is not a whole number.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, pydantic.BeforeValidator(_whole)]
"""An integer in a request body: 2, 2.0 or 2e0, never 2.5, "2" or true."""


def _user_ref(value: Any) -> int | str:
    # One check for both shapes: a union would name its branches ("to.int", "to.str")
    # in the error instead of the field.
    if isinstance(value, str):
        return _storable(value)
    value = _whole(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PydanticCustomError("invalid_user", "must be a user id or a username")
    if value < 1:
        raise PydanticCustomError("invalid_user", "a user id must be a positive integer")
    return value


UserRef = Annotated[int | str, pydantic.PlainValidator(_user_ref, json_schema_input_type=int | str)]
"""A user named in a request: an id (integer or all-digit string) or a username."""


class Body(pydantic.BaseModel):
    """Base of every request body: strict types, no unknown fields.

    An optional field given as null is the same as one left out (openapi.json says so):
    a client may send back the nulls it is shown (`"client_id": null`).
    """

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _null_is_left_out(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            name: value
            for name, value in data.items()
            if not (value is None and name in fields and not fields[name].is_required())
        }


class NoBody(Body):
    """The body of an operation that takes none: nothing, or {}."""


class Query(pydantic.BaseModel):
    """Base of every query string: values arrive as text, unknown names are ignored.

    Text is converted, but only from its plain spelling: an integer is digits
    (not 1.0, +5 or 5_000) and a boolean is true or false.
    """

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _plain_spelling(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        if not isinstance(value, str) or info.field_name is None:
            return value
        kinds = _kinds(cls.model_fields[info.field_name].annotation)
        if bool in kinds and value not in ("true", "false"):
            raise PydanticCustomError("bool_parsing", "must be true or false")
        if int in kinds and not re.fullmatch(r"-?[0-9]+", value):
            raise PydanticCustomError("int_parsing", "must be a whole number")
        return value


def _kinds(annotation: Any) -> set[Any]:
    """The plain types an annotation can take (int | None, Annotated[int, ...] -> int)."""
    args = typing.get_args(annotation)
    if not args:
        return {annotation}
    return set().union(*(_kinds(arg) for arg in args))


# Pydantic error types that have a code of their own in the API.
_SPECIFIC: dict[str, type[errors.Unprocessable]] = {
    "empty_body": errors.EmptyBody,
    "body_too_long": errors.BodyTooLong,
}


# Fields whose values an error never repeats: answers end up in logs and screenshots.
_SECRET_FIELDS = frozenset({"password", "old_password", "new_password"})


def _unprocessable(exc: pydantic.ValidationError) -> errors.Unprocessable:
    details: list[errors.Detail] = []
    for error in exc.errors(include_url=False):
        detail: errors.Detail = {
            "field": ".".join(str(part) for part in error["loc"]),
            "problem": _problem(error),
        }
        if (
            error["type"] != "missing"
            and isinstance(error["input"], str | int | float | bool)
            # JSON has no Infinity, and 1e999 parses as one.
            and not (isinstance(error["input"], float) and not math.isfinite(error["input"]))
            and not _SECRET_FIELDS.intersection(map(str, error["loc"]))
        ):
            detail["value"] = error["input"]
        details.append(detail)
    kind = next((_SPECIFIC[e["type"]] for e in exc.errors() if e["type"] in _SPECIFIC), None)
    if kind is not None:
        return kind(details=details)
    fields = ", ".join(d["field"] or "the request" for d in details)
    return errors.ValidationError(f"Invalid value for {fields}.", details)


def _problem(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_body(request: web.Request, model: type[Model]) -> Model:
    """The request's JSON object checked against model, or 422 naming each bad field."""
    try:
        return model.model_validate(request[keys.body])
    except pydantic.ValidationError as exc:
        raise _unprocessable(exc) from None


def parse_query(request: web.Request, model: type[Model]) -> Model:
    """The query string checked against model, or 422 validation_error."""
    repeated = sorted({name for name in request.query if len(request.query.getall(name)) > 1})
    if repeated:
        raise errors.ValidationError(
            f"Give {', '.join(repeated)} once.",
            [{"field": name, "problem": "given more than once"} for name in repeated],
        )
    try:
        return model.model_validate(dict(request.query))
    except pydantic.ValidationError as exc:
        raise _unprocessable(exc) from None


def path_id(request: web.Request, name: str) -> int:
    """A positive integer from the path; anything else names nothing, so 404."""
    user_id = _digits(request.match_info[name])
    if not user_id:
        raise errors.NotFound()
    return user_id


def path_emoji(request: web.Request) -> str:
    """The emoji at the end of the path, percent-decoded, or 422 naming `emoji`.

    Read from the raw path: aiohttp leaves a segment that is not UTF-8 undecoded.
    """
    raw = request.raw_path.partition("?")[0].rpartition("/")[2]
    try:
        emoji = urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        emoji = None
    if emoji is None or not _is_emoji(emoji):
        raise errors.ValidationError(
            "An emoji is 1 to 32 characters with no white space.",
            [{"field": "emoji", "problem": "must be 1 to 32 characters with no white space"}],
        )
    return emoji


def _is_emoji(text: str) -> bool:
    # Not checked against a list of emoji (the contract says so); strict UTF-8
    # decoding already refused lone surrogates, and NUL cannot be stored.
    return 1 <= len(text) <= 32 and "\x00" not in text and not has_white_space(text)


def as_user_id(ref: int | str) -> int | None:
    """The id a user reference names, or None when it is a username.

    An all-digit string is an id; an id out of range can name nobody, so it is 0.
    """
    if isinstance(ref, int):
        return ref if ref <= MAX_ID else 0
    return _digits(ref)


def _digits(text: str) -> int | None:
    """An all-ASCII-digit string as an id (0 when out of range), else None."""
    if not (text.isascii() and text.isdigit()):
        return None
    # A length check first: int() refuses strings of thousands of digits.
    return int(text) if len(text) <= 19 and int(text) <= MAX_ID else 0
