"""Typed cards from plain mappings: unknown keys, missing keys and wrong types are one line each.

A card is a frozen dataclass whose fields with no default are required; fields with a default
were added later, and a card written before them loads with that default. Each card class lists
a checker per field (``CHECKS``: name -> (predicate, what it must be)).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hrtem_core.atomic import atomic_write_text
from hrtem_core.errors import CardError

Check = tuple[Callable[[Any], bool], str]
C = TypeVar("C")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, float) or is_int(value)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def list_of(check: Callable[[Any], bool], length: int | None = None) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(check(item) for item in value)
    )


def dict_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, dict)
        and all(isinstance(key, str) and check(item) for key, item in value.items())
    )


def plain(value: Any) -> Any:
    """Tuples as lists, recursively: what YAML and JSON give back."""
    return json.loads(json.dumps(value))


def card_from_dict(
    cls: type[C],
    data: Any,
    source: str,
    checks: Mapping[str, Check],
    relations: Callable[[dict[str, Any], str], None] | None = None,
) -> C:
    """``cls(**data)`` after checking keys, types and (``relations``) how fields relate; a
    CardError naming ``source`` otherwise. Fields missing from ``data`` take their defaults."""
    if not isinstance(data, Mapping):
        raise CardError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise CardError(f"{source}: unknown key {unknown[0]!r}; known keys: {', '.join(names)}")
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in data]
    if missing:
        raise CardError(f"{source}: missing key {missing[0]!r}")
    values = {f.name: plain(data[f.name]) if f.name in data else _default(f) for f in fields}
    check_values(values, source, checks)
    if relations is not None:
        relations(values, source)
    return cls(**values)


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def check_values(values: Mapping[str, Any], source: str, checks: Mapping[str, Check]) -> None:
    """A CardError naming ``source`` and the first key whose value fails its check."""
    for key, (check, expected) in checks.items():
        if key in values and not check(values[key]):
            raise CardError(f"{source}: key {key!r} must be {expected}, got {values[key]!r}")


def card_hash(card: object) -> str:
    """Short sha256 (12 hex digits) of a card's canonical JSON (every key, sorted)."""
    canonical = json.dumps(plain(dataclasses.asdict(card)), sort_keys=True, separators=(",", ":"))  # type: ignore[call-overload]
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def save_yaml(card: object, path: str | Path) -> Path:
    """Write a card as YAML to ``path``, atomically."""
    text = yaml.safe_dump(plain(dataclasses.asdict(card)), sort_keys=False)  # type: ignore[call-overload]
    return atomic_write_text(path, text)


def load_yaml(path: str | Path) -> Any:
    """The mapping in a card's YAML file; a missing or malformed file is a CardError naming it."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise CardError(f"{path}: cannot read card ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise CardError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
