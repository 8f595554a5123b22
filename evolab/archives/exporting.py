"""Write a project, with everything that belongs to it, to one archive file."""

from __future__ import annotations

import datetime
import hashlib
import json
import zipfile
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from evolab.archives.format import FORMAT, FORMAT_VERSION, MANIFEST, ROWS, ArchiveError, schema_state
from evolab.archives.scope import archived_models
from evolab.evolution.models import ACTIVE_CAMPAIGN_STATUSES, Campaign
from evolab.projects.models import Project
from evolab.runs.models import ACTIVE_RUN_STATUSES, Run

BATCH = 2000


class _ExactEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts datetimes to milliseconds (as ECMAScript does); an archive
    keeps every microsecond, so a row reads back exactly as it was."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def project_export(project: Project, out: IO[bytes]) -> dict[str, Any]:
    """Write `project` to `out` as a zip archive and return its manifest.

    Refused while a run or campaign of the project is active: the archive must be a
    state the project was really in, not one half-way through a chunk.
    """
    _refuse_while_active(project)
    encoder = _ExactEncoder(ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    user_ids: set[int] = set()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(ROWS, "w", force_zip64=True) as rows:

            def write(value: Any) -> None:
                line = (encoder.encode(value) + "\n").encode()
                digest.update(line)
                rows.write(line)

            for entry in archived_models():
                columns = [f.attname for f in entry.model._meta.concrete_fields]
                queryset = entry.model._default_manager.filter(**{entry.project_lookup: project.pk}).order_by("pk")
                counts[entry.label] = queryset.count()
                write({"model": entry.label, "columns": columns, "count": counts[entry.label]})
                written = 0
                user_columns = [columns.index(c) for c in entry.user_links]
                for values in queryset.values_list(*columns).iterator(chunk_size=BATCH):
                    user_ids.update(values[i] for i in user_columns if values[i] is not None)
                    write(list(values))
                    written += 1
                if written != counts[entry.label]:
                    raise ArchiveError(f"{entry.label} changed while it was exported; export again")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "exported_at": timezone.now().isoformat(),
            "project": {"slug": project.slug, "name": project.name},
            "schema": schema_state(),
            "users": _usernames(user_ids),
            "counts": counts,
            "rows_sha256": digest.hexdigest(),
        }
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def _refuse_while_active(project: Project) -> None:
    runs = Run.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).count()
    campaigns = Campaign.objects.filter(project=project, status__in=ACTIVE_CAMPAIGN_STATUSES).count()
    if runs or campaigns:
        raise ArchiveError(
            f"{project.slug} has {runs} active run(s) and {campaigns} running campaign(s): "
            "cancel or pause them (or let them finish) before exporting"
        )


def _usernames(user_ids: set[int]) -> dict[str, str]:
    user_model: type[models.Model] = get_user_model()
    field = user_model.USERNAME_FIELD  # type: ignore[attr-defined]
    rows = user_model._default_manager.filter(pk__in=user_ids).values_list("pk", field)
    return {str(pk): name for pk, name in rows}
