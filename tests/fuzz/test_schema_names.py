"""ninja names an OpenAPI component after its schema class, and when two routers use
classes of the same name one silently replaces the other in /api/v1/openapi.json — the
documented response is then another operation's (schema fuzzing found harness versions
described as suite versions). Every schema class of evolab must have its own name."""

from __future__ import annotations

from collections import defaultdict

from ninja import Schema

import evolab.api  # noqa: F401 - imports every router and so every schema


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def test_no_two_api_schemas_share_a_name() -> None:
    modules: defaultdict[str, set[str]] = defaultdict(set)
    for schema in _subclasses(Schema):
        if schema.__module__.startswith("evolab."):
            modules[schema.__name__].add(schema.__module__)
    assert {name: found for name, found in modules.items() if len(found) > 1} == {}
