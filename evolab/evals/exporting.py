"""Export a suite version back to JSONL, in the shape `read_cases` imports unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

from evolab.evals.models import EvalCase, Split, SuiteVersion

EXPORT_BATCH = 1000


def case_record(case: EvalCase) -> dict[str, Any]:
    """One case as an import row: every field explicit, so no split is re-derived."""
    return {
        "key": case.key,
        "input": case.input,
        "target": case.target,
        "grader": case.grader,
        "tags": case.tags,
        "split": case.split,
        "metadata": case.metadata,
    }


def export_jsonl(version: SuiteVersion, include_holdout: bool) -> Iterator[str]:
    """One JSON line per case, in import order. Without `include_holdout` the holdout
    cases are left out entirely (not blanked), so the file stays importable."""
    cases = EvalCase.objects.filter(version=version).order_by("id")
    if not include_holdout:
        cases = cases.exclude(split=Split.HOLDOUT)
    for case in cases.iterator(chunk_size=EXPORT_BATCH):
        yield json.dumps(case_record(case), ensure_ascii=False) + "\n"


def jsonl_download(version: SuiteVersion, *, include_holdout: bool) -> StreamingHttpResponse:
    """The export as a streamed download; `X-Evolab-Holdout` says whether holdout cases are in it."""
    response = StreamingHttpResponse(export_jsonl(version, include_holdout), content_type="application/x-ndjson")
    scope = "" if include_holdout else "-without-holdout"
    response["Content-Disposition"] = f'attachment; filename="{version.suite.slug}-v{version.number}{scope}.jsonl"'
    response["X-Evolab-Holdout"] = "included" if include_holdout else "omitted"
    return response
