"""Schemas for structured output: naming, JSON-schema conversion, validation and a valid-instance builder."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema
from pydantic import BaseModel, TypeAdapter, ValidationError

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class SchemaInfo:
    """A structured-output target: its name, JSON schema and how to validate into Python."""

    name: str
    description: str
    json_schema: dict[str, Any]
    pydantic_type: Any | None  # a pydantic model / TypedDict / type; None for a plain JSON-schema dict

    def validate(self, data: Any) -> Any:
        """Validate parsed JSON into the target type (pydantic instance) or a checked dict."""
        if self.pydantic_type is not None:
            if isinstance(self.pydantic_type, type) and issubclass(self.pydantic_type, BaseModel):
                return self.pydantic_type.model_validate(data)
            return TypeAdapter(self.pydantic_type).validate_python(data)
        jsonschema.validate(data, self.json_schema)
        return data


def schema_info(schema: Any) -> SchemaInfo:
    """Describe a pydantic model, TypedDict or JSON-schema dict as a structured-output target."""
    if isinstance(schema, dict):
        if "type" not in schema and "properties" not in schema and "$ref" not in schema:
            raise TypeError("a dict schema must be a JSON schema (with 'type' or 'properties')")
        name = str(schema.get("title") or "response")
        js = dict(schema)
        return SchemaInfo(_safe_name(name), str(schema.get("description", "")), js, None)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        name, description, js = _model_schema(schema)
        return SchemaInfo(name, description, copy.deepcopy(js), schema)  # a copy: request builders may change it
    adapter = TypeAdapter(schema)
    js = adapter.json_schema()
    name = getattr(schema, "__name__", None) or js.get("title") or "response"
    return SchemaInfo(_safe_name(str(name)), str(js.get("description", "")), js, schema)


@lru_cache(maxsize=256)
def _model_schema(schema: type[BaseModel]) -> tuple[str, str, dict[str, Any]]:
    """A pydantic model's name, description and JSON schema, made once per class (each call of a node asks)."""
    name = schema.model_config.get("title") or schema.__name__  # a model's title is the name the model sees
    return _safe_name(name), (schema.__doc__ or "").strip(), schema.model_json_schema()


def _safe_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "response"


def parse_json_text(text: str) -> Any:
    """Parse a model's JSON reply, tolerating code fences and prose around one JSON object."""
    if not isinstance(text, str):
        raise ValueError("reply has no text content")
    stripped = text.strip()
    if not stripped:
        raise ValueError("reply is empty, expected a JSON object")
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as first:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise ValueError(f"reply is not valid JSON: {first.msg} at position {first.pos}") from None


def validation_message(exc: Exception, limit: int = 800) -> str:
    """Turn a validation error into a short message a model (or a person) can act on."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:8]:
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            parts.append(f"{loc}: {err['msg']}")
        msg = "; ".join(parts)
    elif isinstance(exc, jsonschema.ValidationError):
        loc = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        msg = f"{loc}: {exc.message}"
    else:
        msg = str(exc)
    return msg[:limit]


# --- building a valid instance of any JSON schema (used by the scripted model) -------------------------


def build_instance(schema: dict[str, Any], *, seed_text: str = "") -> Any:
    """Return a deterministic instance that validates against `schema` (defaults and first choices)."""
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}
    return _build(schema, defs, seed_text, depth=0)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node and seen < 32:
        ref = node["$ref"].split("/")[-1]
        target = defs.get(ref)
        if target is None:
            raise ValueError(f"unresolvable $ref {node['$ref']!r}")
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _build(node: Any, defs: dict[str, Any], seed_text: str, depth: int) -> Any:
    if not isinstance(node, dict) or depth > 12:
        return None
    node = _resolve(node, defs)
    if "const" in node:
        return node["const"]
    if "default" in node:
        return node["default"]
    if "enum" in node and node["enum"]:
        return node["enum"][0]
    for key in ("anyOf", "oneOf"):
        if node.get(key):
            options = [o for o in node[key] if _resolve(o, defs).get("type") != "null"] or node[key]
            return _build(options[0], defs, seed_text, depth + 1)
    if node.get("allOf"):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            merged.update(_resolve(part, defs))
        return _build(merged, defs, seed_text, depth + 1)
    typ = node.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ is None:
        typ = "object" if "properties" in node else "string"
    if typ == "object":
        props = node.get("properties", {})
        return {name: _build(sub, defs, seed_text, depth + 1) for name, sub in props.items()}
    if typ == "array":
        count = max(int(node.get("minItems", 1)), 0)
        if "maxItems" in node:
            count = min(count, int(node["maxItems"]))
        items = node.get("items", {})
        if node.get("prefixItems"):
            return [_build(s, defs, seed_text, depth + 1) for s in node["prefixItems"]]
        return [_build(items, defs, seed_text, depth + 1) for _ in range(count)]
    if typ in ("integer", "number"):
        return _number(node, integer=typ == "integer")
    if typ == "boolean":
        return False
    if typ == "null":
        return None
    return _string(node, seed_text)


def _number(node: dict[str, Any], *, integer: bool) -> float | int:
    value: float = 0
    if "minimum" in node:
        value = max(value, node["minimum"])
    if "exclusiveMinimum" in node:
        value = max(value, node["exclusiveMinimum"] + (1 if integer else 0.5))
    if "maximum" in node:
        value = min(value, node["maximum"])
    if "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]:
        value = node["exclusiveMaximum"] - (1 if integer else 0.5)
    return int(value) if integer else float(value)


def _string(node: dict[str, Any], seed_text: str) -> str:
    fmt = node.get("format")
    if fmt == "date-time":
        return "2024-01-01T00:00:00Z"
    if fmt == "date":
        return "2024-01-01"
    if fmt in ("uri", "url"):
        return "https://example.org/"
    if fmt == "email":
        return "scripted@example.org"
    text = seed_text or "scripted"
    min_len = int(node.get("minLength", 0))
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if "maxLength" in node:
        text = text[: int(node["maxLength"])]
    return text
