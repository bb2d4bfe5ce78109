"""`{"$from": "step.field"}` and `{"$template": ...}` values inside step params.

A later step may use what an earlier step *verified* (the invoice number Stripe assigned),
never what the agent guessed. Resolution reads only journaled results, so it is
deterministic on replay.

A template names verified values in its text: `{"$template": "Invoice {invoice.number} is on its
way"}` — a placeholder with a dot is a `$from` path. That makes a template one closed object, which
strict tool schemas can describe. The older form, a plain placeholder whose value is a sibling key
(`{"$template": "Invoice {n}", "n": {"$from": "invoice.number"}}`), still works.
"""

import string
from collections.abc import Iterator, Mapping
from typing import Any

FROM = "$from"
TEMPLATE = "$template"


class ReferenceProblem(ValueError):
    """A reference that cannot be resolved; the message says which and why."""


def _dotted_placeholders(template: str) -> list[str]:
    """The `step.field` placeholders of a template (none for a malformed one: check_shape says why)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None and "." in name]
    except ValueError:
        return []


def iter_references(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (param path, "step.field.path") for every `$from` inside a params value, and for every
    dotted placeholder of a `$template`."""
    if isinstance(value, dict):
        if FROM in value:
            source = value[FROM]
            yield path, source if isinstance(source, str) else ""
            return
        if isinstance(value.get(TEMPLATE), str):
            yield from ((path, name) for name in _dotted_placeholders(value[TEMPLATE]))
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
                step_id, dot, field = name.partition(".")
                if spec or conversion:
                    yield path, f"$template field {{{name}}} may not carry a format spec or conversion"
                elif dot and not (step_id and field and all(field.split("."))):
                    yield path, f"$template field {{{name}}} must be 'step_id.field[.field...]'"
                elif not dot and not name.isidentifier():
                    yield path, f"$template field {{{name}}} must be a step's field ('invoice.number') or a plain name"
                elif not dot and name not in value:
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
            return _render(str(value[TEMPLATE]), names, results)
        return {key: resolve(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, results) for item in value]
    return value


def _render(template: str, names: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> str:
    """The template's text with each placeholder replaced: a dotted one by the verified value it
    names, a plain one by its sibling value. No attribute access, no format specs."""
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(str(lookup(name, results) if "." in name else names[name]))
    return "".join(out)
