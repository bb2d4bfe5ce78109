"""Strict input: JSON exactly as it was sent, validated without coercion.

Pydantic's default (lax) mode turns `"10"` into 10, `"yes"` and `1` into True, and `true` into
1 — so `{"amount": true}` would be a 1-cent invoice and `{"pivot": "yes"}` a point of no return
nobody chose. Python's `json` module also parses the bare words `NaN` and `Infinity`, which
are not JSON. Every body an agent sends goes through `loads` and every model through
`validate`, so no entry point can forget either rule.

`validate` uses pydantic's strict mode with JSON semantics: a JSON string is still a valid
ISO-8601 datetime or duration, an integer a valid float, but no string is a number or boolean,
no boolean a number, no float with a fraction-free value an int.
"""

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class NotJson(ValueError):
    """Not (strict) JSON: malformed, or holding NaN or Infinity."""


def _no_constants(word: str) -> Any:
    raise NotJson(f"{word} is not a JSON value; send a finite number or null")


def loads(body: bytes | str) -> Any:
    """Parse JSON, refusing `NaN`, `Infinity` and `-Infinity` (RecursionError passes through:
    callers bound depth before they parse or report it as nesting)."""
    try:
        return json.loads(body, parse_constant=_no_constants)
    except NotJson:
        raise
    except ValueError as exc:
        raise NotJson(str(exc)) from None


def validate(model: type[Model], value: Any) -> Model:
    """`model` from a JSON-shaped value, strictly (raises pydantic's ValidationError).

    A value that is not JSON-shaped (a Python caller's datetime, say) is validated in strict
    Python mode instead, where such objects are their own type."""
    try:
        text = json.dumps(value, allow_nan=False)
    except TypeError:
        return model.model_validate(value, strict=True)
    except ValueError:  # NaN or an infinity somewhere inside
        raise ValidationError.from_exception_data(model.__name__, [
            {"type": "finite_number", "loc": (), "input": "NaN or Infinity"}]) from None
    return model.model_validate_json(text, strict=True)
