"""Every state change of harness versions and the head.

Callers (views, API operations, later the evolution app) have already checked the
actor's role. Each function validates first, then changes the database atomically and
records the change in the audit log inside the same transaction.

One decision, one audit event (issue #11): when a version or a head move is part of a
larger decision (a revert here, a merge or a revert of a proposal in the evolution app),
the caller passes `audited_by_caller=True` and records the version and the head move in
its own event instead (see `head_log` for where each event keeps the move).
"""

from __future__ import annotations

import re
from typing import IO, Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from evolab.core.actions import audit_record
from evolab.core.errors import Conflict, ValidationFailed
from evolab.engine.harness_config import HARNESS_YAML, HarnessConfigError, parse_harness_config
from evolab.harnesses.archive import read_zip
from evolab.harnesses.models import HarnessHead, HarnessParent, HarnessVersion
from evolab.harnesses.tree import canonical_digest, normalise_tree
from evolab.projects.models import Project

Actor = User | AnonymousUser | None

MAX_MESSAGE_CHARS = 5000
MAX_REASON_CHARS = 2000
# A config error's field is a dotted key path, or a YAML position such as "line 3, column 5".
_CONFIG_KEY_PATH = re.compile(r"^[A-Za-z_][\w.]*$")


def _person(actor: Actor) -> User | None:
    # Same rule as core.audit_record: only a real user is an author; None and anonymous are "system".
    return actor if isinstance(actor, User) else None


def _version_summary(version: HarnessVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"number": version.number, "digest": version.digest}


def check_harness_config(files: dict[str, str]) -> None:
    """Validate `harness.yaml` (when present) and the template files it names.

    The error's `field` points into the file, e.g. `files['harness.yaml'].sampling.temperature`,
    and its message names the key, so a form or an API client can show where the problem is.
    """
    text = files.get(HARNESS_YAML)
    if text is None:
        return
    field = f"files[{HARNESS_YAML!r}]"
    try:
        config = parse_harness_config(text)
    except HarnessConfigError as error:
        where = f"{field}.{error.field}" if _CONFIG_KEY_PATH.match(error.field) else field
        raise ValidationFailed(str(error), field=where, details={"path": HARNESS_YAML, "key": error.field}) from None
    for key, template in (("templates.system", config.templates.system), ("templates.user", config.templates.user)):
        if template is not None and template not in files:
            raise ValidationFailed(
                f"{HARNESS_YAML}: {key}: {template!r} is not a file in this harness.",
                field=f"{field}.{key}",
                details={"path": HARNESS_YAML, "key": key},
            )


def _check_message(message: str, *, field: str = "message", limit: int = MAX_MESSAGE_CHARS) -> str:
    message = (message or "").strip()
    if not message:
        raise ValidationFailed("Say what changed and why.", field=field)
    if len(message) > limit:
        raise ValidationFailed(f"At most {limit} characters, please.", field=field)
    return message


def _check_parents(project: Project, parents: list[HarnessVersion]) -> None:
    seen: set[int] = set()
    for parent in parents:
        if parent.project_id != project.pk:
            raise ValidationFailed(f"v{parent.number} belongs to another project.", field="parents")
        if parent.pk in seen:
            raise ValidationFailed(f"v{parent.number} is listed twice as a parent.", field="parents")
        seen.add(parent.pk)


def _current_head(project: Project) -> HarnessVersion | None:
    """The current head (with files), read inside the caller's transaction."""
    head = HarnessHead.objects.select_related("version").filter(project=project).first()
    return head.version if head is not None else None


def version_create(
    *,
    actor: Actor,
    project: Project,
    files: dict[str, str],
    message: str,
    parents: list[HarnessVersion] | None = None,
    author_label: str | None = None,
    move_head: bool = True,
    audited_by_caller: bool = False,
) -> HarnessVersion:
    """Store a new version of `files` and, by default, make it head.

    `parents` defaults to the current head. With `move_head`, head moves by
    compare-and-swap from the first parent: if head is no longer that version (someone
    committed meanwhile, or the caller built on an older version) nothing is stored and
    `Conflict` is raised. Files identical to the first parent are refused ("nothing
    changed"). Paths, sizes and `harness.yaml` are validated before anything is written.
    With `audited_by_caller` neither the version nor the head move is audited here: the
    caller's one event for its decision records both, in the same transaction.
    """
    tree = normalise_tree(files)
    check_harness_config(tree)
    message = _check_message(message)
    digest = canonical_digest(tree)
    person = _person(actor)
    label = (author_label or (person.get_username() if person is not None else "system"))[:150]
    with transaction.atomic():
        # Serialise version numbering per project (a row lock on PostgreSQL; SQLite's
        # IMMEDIATE transactions already serialise writers).
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
        if parents is None:
            head = _current_head(project)
            parents = [head] if head is not None else []
        _check_parents(project, parents)
        if parents and parents[0].digest == digest:
            raise Conflict(f"Nothing changed: the files are identical to v{parents[0].number}.", field="files")
        last = HarnessVersion.objects.filter(project=project).aggregate(last=Max("number"))["last"] or 0
        try:
            with transaction.atomic():
                version = HarnessVersion.objects.create(
                    project=project,
                    number=last + 1,
                    digest=digest,
                    files=tree,
                    author=person,
                    author_label=label,
                    message=message,
                )
        except IntegrityError:
            raise Conflict("Another version was committed at the same moment; try again.") from None
        HarnessParent.objects.bulk_create(
            HarnessParent(child=version, parent=parent, position=position) for position, parent in enumerate(parents)
        )
        if not audited_by_caller:
            audit_record(
                actor=actor,
                project_id=project.pk,
                action="harness.version.create",
                object_type="harness_version",
                object_id=version.pk,
                object_label=f"{version.label} · {version.short_digest} {message.splitlines()[0]}",
                after={
                    **_version_summary(version),  # type: ignore[dict-item]
                    "parents": [p.number for p in parents],
                    "files": len(tree),
                    "author": label,
                },
            )
        if move_head:
            head_move(
                actor=actor,
                project=project,
                expected=parents[0] if parents else None,
                new=version,
                audited_by_caller=audited_by_caller,
            )
    return version


def head_move(
    *,
    actor: Actor,
    project: Project,
    expected: HarnessVersion | None,
    new: HarnessVersion,
    audited_by_caller: bool = False,
) -> None:
    """Point head at `new` if and only if it is still at `expected` (None: no head yet).

    A conditional UPDATE is the whole check, so two concurrent moves cannot both win:
    the loser gets `Conflict` and head keeps the winner's version. A person's direct move
    writes `harness.head`; with `audited_by_caller` the caller's decision event (a merge,
    a revert) records the move instead.
    """
    if new.project_id != project.pk:
        raise ValidationFailed(f"v{new.number} belongs to another project.", field="version")
    with transaction.atomic():
        if expected is None:
            try:
                with transaction.atomic():
                    HarnessHead.objects.create(project=project, version=new)
            except IntegrityError:
                raise _head_moved(project, expected) from None
        else:
            moved = HarnessHead.objects.filter(project=project, version=expected).update(
                version=new, updated_at=timezone.now()
            )
            if moved != 1:
                raise _head_moved(project, expected)
        if audited_by_caller or (expected is not None and expected.pk == new.pk):
            return
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="harness.head",
            object_type="harness_head",
            object_id=project.pk,
            object_label=f"head → {new.label} · {new.short_digest}",
            before=_version_summary(expected),
            after=_version_summary(new),
        )


def _head_moved(project: Project, expected: HarnessVersion | None) -> Conflict:
    current = _current_head(project)
    now = f"v{current.number}" if current is not None else "unset"
    was = f"v{expected.number}" if expected is not None else "unset"
    return Conflict(
        f"Head moved: it is {now} now, not {was}. Review what changed and try again.",
        field="head",
        details={"expected": expected.number if expected else None, "head": current.number if current else None},
    )


def version_revert(*, actor: Actor, project: Project, target: HarnessVersion, reason: str) -> HarnessVersion:
    """A new version on top of head with `target`'s files; history is never rewritten."""
    reason = _check_message(reason, field="reason", limit=MAX_REASON_CHARS)
    if target.project_id != project.pk:
        raise ValidationFailed(f"v{target.number} belongs to another project.", field="version")
    with transaction.atomic():
        head = _current_head(project)
        if head is None:
            raise Conflict("This project has no head to revert.", field="version")
        if head.digest == target.digest:
            raise Conflict(
                f"Nothing to revert: head v{head.number} already has the files of v{target.number}.", field="version"
            )
        version = version_create(
            actor=actor,
            project=project,
            files=target.files,
            message=f"Revert to v{target.number}: {reason}",
            parents=[head],
            audited_by_caller=True,
        )
        # The one event of this decision: the new version, and head moving to it from `before`.
        audit_record(
            actor=actor,
            project_id=project.pk,
            action="harness.revert",
            object_type="harness_version",
            object_id=version.pk,
            object_label=f"{version.label} reverts to {target.label}",
            before=_version_summary(head),
            after={
                **_version_summary(version),  # type: ignore[dict-item]
                "parents": [head.number],
                "files": len(version.files),
                "author": version.author_label,
                "target": target.number,
                "reason": reason,
            },
        )
    return version


def version_create_from_zip(
    *,
    actor: Actor,
    project: Project,
    upload: IO[bytes],
    message: str,
    parents: list[HarnessVersion] | None = None,
    author_label: str | None = None,
    move_head: bool = True,
) -> HarnessVersion:
    """Like `version_create`, with the files read from a .zip archive (see `archive.read_zip`)."""
    contents = read_zip(upload)
    return version_create(
        actor=actor,
        project=project,
        files=contents.files,
        message=message,
        parents=parents,
        author_label=author_label,
        move_head=move_head,
    )
