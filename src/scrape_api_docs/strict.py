"""Request models that name what they accept: an unknown field is answered with the list
of valid ones (``unknown option 'depth'; valid: max_depth, max_pages, ...``) instead of
pydantic's bare "Extra inputs are not permitted"."""

from __future__ import annotations

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
