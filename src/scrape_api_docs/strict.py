"""Request models that name what they accept: an unknown field is answered with the list
of valid ones (``unknown option 'depth'; valid: max_depth, max_pages, ...``) instead of
pydantic's bare "Extra inputs are not permitted"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

UNKNOWN_NAME = "unknown_name"
"""The error type the API answers with 400 ``INVALID_OPTIONS`` (a name we don't have),
as opposed to 422 ``VALIDATION_ERROR`` (a value of the wrong form)."""


def unknown_name(kind: str, given: list[str], valid: list[str]) -> PydanticCustomError:
    names = ", ".join(repr(name) for name in given)
    return PydanticCustomError(
        UNKNOWN_NAME,
        "unknown {kind} {names}; valid: {valid}",
        {"kind": kind, "names": names, "valid": ", ".join(valid)},
    )


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            valid = list(cls.model_fields)
            unknown = [str(key) for key in data if key not in cls.model_fields]
            if unknown:
                raise unknown_name("field" if len(unknown) == 1 else "fields", unknown, valid)
        return data


def _choices(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" for literals and enums, as JSON values a client sends."""
    return expected.replace("'", '"')


def _limit(error: Mapping[str, Any], key: str) -> Any:
    return (error.get("ctx") or {}).get(key)


def _count(error: Mapping[str, Any], key: str, noun: str) -> str:
    n = _limit(error, key)
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_PHRASES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda e: "is required",
    "int_type": lambda e: "must be a whole number",
    "int_parsing": lambda e: "must be a whole number",
    "int_from_float": lambda e: "must be a whole number, without a fraction",
    "float_type": lambda e: "must be a number",
    "float_parsing": lambda e: "must be a number",
    "bool_type": lambda e: "must be true or false",
    "bool_parsing": lambda e: "must be true or false",
    "string_type": lambda e: "must be a string",
    "dict_type": lambda e: "must be a JSON object",
    "model_type": lambda e: "must be a JSON object",
    "model_attributes_type": lambda e: "must be a JSON object",
    "list_type": lambda e: "must be a JSON array",
    "datetime_type": lambda e: "must be a date and time, like 2026-12-31T23:59:59Z",
    "datetime_parsing": lambda e: "must be a date and time, like 2026-12-31T23:59:59Z",
    "datetime_from_date_parsing": lambda e: "must be a date and time, like 2026-12-31T23:59:59Z",
    "greater_than": lambda e: f"must be greater than {_limit(e, 'gt')}",
    "greater_than_equal": lambda e: f"must be at least {_limit(e, 'ge')}",
    "less_than": lambda e: f"must be less than {_limit(e, 'lt')}",
    "less_than_equal": lambda e: f"must be at most {_limit(e, 'le')}",
    "string_too_short": lambda e: f"must be at least {_count(e, 'min_length', 'character')} long",
    "string_too_long": lambda e: f"must be at most {_count(e, 'max_length', 'character')} long",
    "too_short": lambda e: f"must have at least {_count(e, 'min_length', 'item')}",
    "too_long": lambda e: f"must have at most {_count(e, 'max_length', 'item')}",
    "string_pattern_mismatch": lambda e: "does not have the expected form",
    "enum": lambda e: f"must be one of {_choices(str(_limit(e, 'expected')))}",
    "literal_error": lambda e: f"must be {_choices(str(_limit(e, 'expected')))}",
    "url_parsing": lambda e: (
        f"is not a valid URL ({_limit(e, 'error')}); write it like https://docs.example.com/"
    ),
    "url_scheme": lambda e: "must be an http or https URL",
    "url_type": lambda e: "must be a URL string",
    "url_too_long": lambda e: f"must be at most {_count(e, 'max_length', 'character')} long",
    "url_syntax_violation": lambda e: f"is not a valid URL ({_limit(e, 'error')})",
}


def error_sentence(field: str, error: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence that names ``field`` and says what is accepted:
    no raw patterns, no pydantic jargon ("Input should be ..."), never the value sent."""
    kind = str(error.get("type", ""))
    name = field or "the request"
    if kind == "json_invalid":
        where = error.get("loc", ())
        at = f" at character {where[-1]}" if where and isinstance(where[-1], int) else ""
        problem = _limit(error, "error") or "malformed"
        return f"the request body is not valid JSON{at} ({problem}); send a JSON object"
    if kind == "missing" and not field:
        return "the request body is missing; send a JSON object"
    phrase = _PHRASES.get(kind)
    if phrase is not None:
        return f"{name} {phrase(error)}"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if not message:
        return f"{name} is not valid"
    own = name.rsplit(".", 1)[-1] + " "
    if message.startswith(own):  # the validator named the field already: name it once
        return name + message[len(own) - 1 :]
    return f"{name}: {message}"
