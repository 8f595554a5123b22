"""Leakage checks, run and stored: a text against the dev and holdout cases of suite versions.

The n-gram index of a suite version is built once per process and kept (suite versions
never change, so it never goes stale); a check is then one scan per text. Train cases
are not indexed: the loop reads train failures by design, so quoting them is expected.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery

from evolab.engine.leakage import DEFAULT_MIN_WORDS, CaseText, NgramIndex, Overlap
from evolab.evals.models import EvalSuite, Split, SuiteVersion
from evolab.harnesses.models import HarnessVersion
from evolab.harnesses.tree import diff_trees
from evolab.leakage.models import LeakageCheck, Subject
from evolab.projects.models import Project

CHECKED_SPLITS = (Split.DEV, Split.HOLDOUT)
# Indexes kept per process; the demo suite's takes well under a megabyte, a suite of
# 10,000 long cases tens of megabytes.
INDEX_CACHE_SIZE = 8

_indexes: OrderedDict[tuple[int, datetime, int], NgramIndex] = OrderedDict()
_indexes_lock = threading.Lock()


def _passages(case_input: Any) -> list[str]:
    """The texts of a case input: a string, or the content of each chat message."""
    if isinstance(case_input, list):
        return [str(item.get("content", "")) for item in case_input if isinstance(item, Mapping)]
    return [str(case_input)]


def case_index(suite_version: SuiteVersion, min_words: int = DEFAULT_MIN_WORDS) -> NgramIndex:
    """The n-gram index of the version's dev and holdout cases (built once, then cached)."""
    # The creation time too: an id alone can come back for another version after a
    # rollback (SQLite reuses the ids of rolled-back rows) or a restored database.
    cache_key = (suite_version.pk, suite_version.created_at, min_words)
    with _indexes_lock:
        index = _indexes.get(cache_key)
        if index is not None:
            _indexes.move_to_end(cache_key)
            return index
    rows = suite_version.cases.filter(split__in=CHECKED_SPLITS).values_list("key", "split", "input", "target")
    passages = [
        CaseText(key, split, text)
        for key, split, case_input, target in rows.iterator()
        for text in [*_passages(case_input), target]
        if text
    ]
    index = NgramIndex.build(passages, min_words)
    with _indexes_lock:
        _indexes[cache_key] = index
        while len(_indexes) > INDEX_CACHE_SIZE:
            _indexes.popitem(last=False)
    return index


def _merge(found: Iterable[Overlap]) -> list[Overlap]:
    """The longest overlap per case, longest first."""
    best: dict[str, Overlap] = {}
    for overlap in found:
        if overlap.case_key not in best or overlap.words > best[overlap.case_key].words:
            best[overlap.case_key] = overlap
    return sorted(best.values(), key=lambda o: (-o.words, o.case_key))


def leakage_check(
    *,
    project: Project,
    subject_type: Subject,
    subject_id: int,
    texts: Sequence[str],
    suite_versions: Iterable[SuiteVersion],
    min_words: int = DEFAULT_MIN_WORDS,
) -> list[LeakageCheck]:
    """Scan `texts` (each on its own: an overlap never runs from one into the next)
    against each suite version and store the result; repeating it changes nothing."""
    checks = []
    for suite_version in suite_versions:
        index = case_index(suite_version, min_words)
        overlaps = _merge(overlap for text in texts for overlap in index.scan(text))
        check, _ = LeakageCheck.objects.update_or_create(
            subject_type=subject_type,
            subject_id=subject_id,
            suite_version=suite_version,
            defaults={
                "project": project,
                "min_words": min_words,
                "matches": [asdict(overlap) for overlap in overlaps],
                "holdout_cases": sum(1 for o in overlaps if o.split == Split.HOLDOUT),
                "dev_cases": sum(1 for o in overlaps if o.split == Split.DEV),
                "longest": max((o.words for o in overlaps), default=0),
            },
        )
        checks.append(check)
    return checks


def added_texts(base_files: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    """The lines a change adds, one text per hunk (what a proposal brings in)."""
    return [
        "\n".join(line.text for line in hunk.lines if line.kind == "add")
        for file_diff in diff_trees(base_files, files).files
        for hunk in file_diff.hunks
    ]


def proposal_check(
    *,
    project: Project,
    proposal_id: int,
    base_files: Mapping[str, str],
    files: Mapping[str, str],
    rationale: str,
    suite_version: SuiteVersion,
) -> list[LeakageCheck]:
    """A proposal's added text and its rationale against its campaign's suite version."""
    return leakage_check(
        project=project,
        subject_type=Subject.PROPOSAL,
        subject_id=proposal_id,
        texts=[*added_texts(base_files, files), rationale],
        suite_versions=[suite_version],
    )


def latest_suite_versions(project: Project) -> list[SuiteVersion]:
    """The newest version of each of the project's suites."""
    newest = SuiteVersion.objects.filter(suite=OuterRef("suite")).order_by("-number").values("pk")[:1]
    suites = EvalSuite.objects.filter(project=project).values("pk")
    return list(SuiteVersion.objects.filter(suite__in=suites, pk=Subquery(newest)).order_by("suite_id"))


def harness_version_check(version: HarnessVersion) -> list[LeakageCheck]:
    """Every file of a harness version against the newest version of each suite of its
    project; suite versions already checked are not scanned again (both are immutable)."""
    project = version.project
    wanted = latest_suite_versions(project)
    done = {
        check.suite_version_id: check
        for check in LeakageCheck.objects.filter(
            subject_type=Subject.HARNESS_VERSION, subject_id=version.pk, suite_version__in=wanted
        )
    }
    missing = [suite_version for suite_version in wanted if suite_version.pk not in done]
    if missing:
        files: dict[str, str] = version.files
        for check in leakage_check(
            project=project,
            subject_type=Subject.HARNESS_VERSION,
            subject_id=version.pk,
            texts=list(files.values()),
            suite_versions=missing,
        ):
            done[check.suite_version_id] = check
    return [done[suite_version.pk] for suite_version in wanted]
