"""A bad archive, or a project caught mid-run, changes nothing and says why."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from evolab.archives.exporting import project_export
from evolab.archives.format import MANIFEST, ROWS, ArchiveError
from evolab.archives.importing import project_import
from evolab.core.models import AuditEvent
from evolab.evolution.models import Campaign
from evolab.harnesses.models import HarnessVersion
from evolab.projects.models import Project
from tests.conftest import Team
from tests.evolution.conftest import Evo

pytestmark = pytest.mark.django_db(transaction=True)


def _archive(team: Team) -> bytes:
    buffer = io.BytesIO()
    project_export(team.project, buffer)
    return buffer.getvalue()


def _rewrite(data: bytes, *, rows: bytes | None = None, manifest: dict | None = None) -> io.BytesIO:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr(ROWS, rows if rows is not None else source.read(ROWS))
        target.writestr(MANIFEST, json.dumps(manifest or json.loads(source.read(MANIFEST))))
    out.seek(0)
    return out


def _nothing_written(projects: int, versions: int, events: int) -> None:
    assert Project.objects.count() == projects
    assert HarnessVersion.objects.count() == versions
    assert AuditEvent.objects.count() == events


def _counts() -> tuple[int, int, int]:
    return Project.objects.count(), HarnessVersion.objects.count(), AuditEvent.objects.count()


def test_an_edited_archive_fails_its_checksum(team: Team) -> None:
    data = _archive(team)
    rows = zipfile.ZipFile(io.BytesIO(data)).read(ROWS).replace(b"support-agent", b"support-agenT")
    before = _counts()

    with pytest.raises(ArchiveError, match="checksum mismatch"):
        project_import(_rewrite(data, rows=rows), slug="copy")
    _nothing_written(*before)


def test_a_dangling_reference_rolls_the_whole_import_back(evo: Evo) -> None:
    data = _archive(evo.team)
    source = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(source.read(MANIFEST))
    lines = source.read(ROWS).decode().splitlines()
    # Point a case at a suite version the archive does not hold, and re-seal it, as a
    # hand-made archive would be: the checksum passes, the reference does not.
    header_at = next(i for i, line in enumerate(lines) if line.startswith('{"model":"evals.EvalCase"'))
    columns = json.loads(lines[header_at])["columns"]
    row = json.loads(lines[header_at + 1])
    row[columns.index("version_id")] = 987654
    lines[header_at + 1] = json.dumps(row)
    rows = ("\n".join(lines) + "\n").encode()
    manifest["rows_sha256"] = hashlib.sha256(rows).hexdigest()
    before = _counts()

    with pytest.raises(ArchiveError, match=r"evals.EvalCase.version_id points at evals.SuiteVersion 987654"):
        project_import(_rewrite(data, rows=rows, manifest=manifest), slug="copy")
    _nothing_written(*before)


def test_a_different_schema_is_refused(team: Team) -> None:
    data = _archive(team)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(MANIFEST))
    manifest["schema"]["runs"] = "9999_from_the_future"

    with pytest.raises(ArchiveError, match="schema of runs: the archive has 9999_from_the_future"):
        project_import(_rewrite(data, manifest=manifest), slug="copy")


def test_an_existing_slug_is_refused(team: Team) -> None:
    with pytest.raises(ArchiveError, match="already exists"):
        project_import(io.BytesIO(_archive(team)))


def test_not_a_zip_is_refused(team: Team) -> None:
    with pytest.raises(ArchiveError, match="not a zip archive"):
        project_import(io.BytesIO(b"hello"), slug="copy")


def test_a_project_with_a_running_campaign_is_not_exported(evo: Evo) -> None:
    evo.start()
    with pytest.raises(ArchiveError, match="1 running campaign"):
        project_export(evo.team.project, io.BytesIO())
    assert Campaign.objects.count() == 1
