"""Factories and small builders for eval suites, versions and cases."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import factory

from evolab.evals.actions import case_search_text
from evolab.evals.models import EvalCase, EvalCaseTag, EvalSuite, SuiteVersion
from tests.factories import ProjectFactory

EXACT = {"type": "exact"}


class EvalSuiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvalSuite

    project = factory.SubFactory(ProjectFactory)
    slug = factory.Sequence(lambda n: f"suite-{n}")
    name = factory.LazyAttribute(lambda s: s.slug.replace("-", " ").title())
    default_grader = factory.LazyFunction(lambda: dict(EXACT))


class SuiteVersionFactory(factory.django.DjangoModelFactory):
    """A version without cases; use `make_version` for one with cases (case_count must match)."""

    class Meta:
        model = SuiteVersion

    suite = factory.SubFactory(EvalSuiteFactory)
    number = factory.LazyAttribute(lambda v: SuiteVersion.objects.filter(suite=v.suite).count() + 1)
    default_grader = factory.LazyAttribute(lambda v: v.suite.default_grader)
    message = "test version"


class EvalCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvalCase

    version = factory.SubFactory(SuiteVersionFactory)
    key = factory.Sequence(lambda n: f"case-{n:04d}")
    input = factory.LazyAttribute(lambda c: f"Question {c.key}?")
    target = "42"
    grader = factory.LazyFunction(dict)
    tags = factory.LazyFunction(list)
    split = "train"
    metadata = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class: type[EvalCase], *args: Any, **kwargs: Any) -> EvalCase:
        kwargs["search_text"] = case_search_text(kwargs["input"], kwargs["target"])
        case = super()._create(model_class, *args, **kwargs)
        EvalCaseTag.objects.bulk_create([EvalCaseTag(case=case, tag=tag) for tag in case.tags])
        return case


def make_version(suite: EvalSuite, cases: list[dict[str, Any]], **fields: Any) -> SuiteVersion:
    """A version of `suite` holding `cases` (dicts of EvalCase fields; key required)."""
    version = SuiteVersionFactory(suite=suite, case_count=len(cases), **fields)
    for case in cases:
        EvalCaseFactory(version=version, **case)
    return version


def jsonl(rows: list[Any]) -> bytes:
    """Rows as JSONL bytes; a str row is written verbatim (to plant a bad line)."""
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows).encode()


def csv_bytes(header: list[str], rows: list[list[str]], *, bom: bool = False) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()
