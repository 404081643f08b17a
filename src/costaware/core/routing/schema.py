"""A small JSON-schema subset validator for cascade checks (no ``jsonschema`` dependency).

Checked: ``type`` (one or a list; ``integer`` excludes floats and booleans, ``number`` excludes
booleans), ``required``, ``properties`` (recursively), ``additionalProperties: false``, ``items``
(a schema), ``enum``, ``const``, ``minItems``/``maxItems``. Everything else (``$ref``, ``anyOf``,
``pattern``, formats ...) is ignored, so an answer is only refused for a mismatch this subset sees.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["schema_error"]

_MAX_DEPTH = 64  # a hostile or cyclic schema must not exhaust the stack
_TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_error(value: object, schema: Mapping[str, object], path: str = "$", depth: int = 0) -> str | None:
    """The first way ``value`` (parsed JSON) breaks ``schema``, as ``"$.items[2].price: ..."``; else ``None``.

    Chat Completions' wrapper ``{"name": ..., "schema": {...}}`` is unwrapped.

    >>> schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    >>> schema_error({"n": "3"}, schema)
    '$.n: expected integer, got string'
    """
    if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
        return None
    if depth == 0 and "type" not in schema and isinstance(schema.get("schema"), Mapping):
        inner = schema["schema"]
        assert isinstance(inner, Mapping)
        schema = inner
    problem = _type_error(value, schema.get("type"))
    if problem is not None:
        return f"{path}: {problem}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{path}: {value!r} is not one of {enum!r}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}, got {value!r}"
    if isinstance(value, dict):
        return _object_error(value, schema, path, depth)
    if isinstance(value, list):
        return _array_error(value, schema, path, depth)
    return None


def _type_error(value: object, expected: object) -> str | None:
    names = [expected] if isinstance(expected, str) else expected if isinstance(expected, list) else None
    if not names:
        return None
    for name in names:
        if not isinstance(name, str) or name not in _TYPES:
            return None  # a type this subset does not know: do not judge
        if _is_type(value, name):
            return None
    return f"expected {' or '.join(str(n) for n in names)}, got {_json_type(value)}"


def _is_type(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return name == "boolean"
    if name == "integer" and isinstance(value, float):
        return value.is_integer()  # JSON has one number type: 3.0 is an integer
    return isinstance(value, _TYPES[name])


def _object_error(
    value: dict[object, object], schema: Mapping[str, object], path: str, depth: int
) -> str | None:
    required = schema.get("required")
    if isinstance(required, list):
        for key in required:
            if key not in value:
                return f"{path}: missing required key {key!r}"
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    for key, item in value.items():
        sub = properties.get(key) if isinstance(key, str) else None
        if isinstance(sub, Mapping):
            problem = schema_error(item, sub, f"{path}.{key}", depth + 1)
            if problem is not None:
                return problem
        elif schema.get("additionalProperties") is False:
            return f"{path}: unexpected key {key!r}"
    return None


def _array_error(value: list[object], schema: Mapping[str, object], path: str, depth: int) -> str | None:
    low, high = schema.get("minItems"), schema.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        return f"{path}: {len(value)} items, fewer than {low}"
    if isinstance(high, int) and len(value) > high:
        return f"{path}: {len(value)} items, more than {high}"
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            problem = schema_error(item, items, f"{path}[{index}]", depth + 1)
            if problem is not None:
                return problem
    return None


def _json_type(value: object) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__
