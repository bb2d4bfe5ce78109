"""`{"$from": "step.field"}` and `{"$template": ...}` values inside step params.

A later step may use what an earlier step *verified* (the invoice number Stripe assigned),
never what the agent guessed. Resolution reads only journaled results, so it is
deterministic on replay.
"""

import string
from collections.abc import Iterator, Mapping
from typing import Any

FROM = "$from"
TEMPLATE = "$template"


class ReferenceProblem(ValueError):
    """A reference that cannot be resolved; the message says which and why."""


def iter_references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (param path, "step.field.path") for every `$from` inside a params value."""
    if isinstance(value, dict):
        if FROM in value:
            source = value[FROM]
            yield path, source if isinstance(source, str) else ""
            return
        for key, item in value.items():
            if key != TEMPLATE:
                yield from iter_references(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_references(item, f"{path}[{index}]")


def check_shape(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, problem) for malformed `$from`/`$template` objects."""
    if isinstance(value, dict):
        if FROM in value:
            source = value[FROM]
            if len(value) != 1:
                yield path, "a $from object must have no other keys"
            if not isinstance(source, str) or "." not in source:
                yield path, "$from must be a string 'step_id.field[.field...]'"
            return
        if TEMPLATE in value:
            template = value[TEMPLATE]
            if not isinstance(template, str):
                yield path, "$template must be a string"
                return
            try:
                parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
            except ValueError as exc:
                yield path, f"$template is not a valid template: {exc}"
                return
            for name, spec, conversion in parsed:
                if spec or conversion:
                    yield path, f"$template field {{{name}}} may not carry a format spec or conversion"
                elif not name.isidentifier():
                    yield path, f"$template field {{{name}}} must be a plain name"
                elif name not in value:
                    yield path, f"$template field {{{name}}} has no value"
        for key, item in value.items():
            if key != TEMPLATE:
                yield from check_shape(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from check_shape(item, f"{path}[{index}]")


def lookup(source: str, results: Mapping[str, Mapping[str, Any]]) -> Any:
    step_id, _, field_path = source.partition(".")
    if step_id not in results:
        raise ReferenceProblem(f"{source}: step '{step_id}' has no verified result")
    current: Any = results[step_id]
    walked = step_id
    for part in field_path.split("."):
        walked = f"{walked}.{part}"
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            available = ", ".join(sorted(current)) if isinstance(current, Mapping) else "none"
            raise ReferenceProblem(f"{source}: no field '{walked}' (available: {available})")
    return current


def resolve(value: Any, results: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace every reference in `value` with the verified value it names."""
    if isinstance(value, dict):
        if FROM in value:
            return lookup(value[FROM], results)
        if TEMPLATE in value:
            names = {k: resolve(v, results) for k, v in value.items() if k != TEMPLATE}
            return str(value[TEMPLATE]).format_map(names)
        return {key: resolve(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, results) for item in value]
    return value
