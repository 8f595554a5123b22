"""A case's discussion and its disputed flag: the state changes and the reads.

Both belong to the suite and the case's stable key, so they carry on across versions.
Callers (views, API) have checked the role: reviewers and above comment and open a
dispute, maintainers and above resolve one. A key that is in the holdout split in any
version of the suite is sealed: its thread is for those who may see the holdout
(`key_is_sealed_for`), since a comment on a holdout case tends to quote it.

An open dispute takes the case out of decisions: `disputed_keys` is what the evolution
loop filters proposal comparisons with.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from evolab.core.actions import audit_record
from evolab.core.errors import Conflict, ValidationFailed
from evolab.evals.models import CaseComment, CaseDispute, EvalCase, EvalSuite, Split
from evolab.evals.selectors import can_see_holdout
from evolab.projects.models import Role

COMMENT_MAX_CHARS = 10_000
REASON_MAX_CHARS = 5_000


def _text(value: str, *, field: str, what: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"Write {what}.", field=field)
    if len(text) > limit:
        raise ValidationFailed(f"{what[0].upper()}{what[1:]} is limited to {limit:,} characters.", field=field)
    return text


def _check_key(suite: EvalSuite, key: str) -> None:
    if not EvalCase.objects.filter(version__suite=suite, key=key).exists():
        raise ValidationFailed(f"The suite has no case {key!r} in any version.", field="key")


# ------------------------------------------------------------------ reads


def key_in_holdout(suite: EvalSuite, key: str) -> bool:
    """Whether `key` is a holdout case in any version of the suite."""
    return EvalCase.objects.filter(version__suite=suite, key=key, split=Split.HOLDOUT).exists()


def key_is_sealed_for(suite: EvalSuite, key: str, role: Role | int) -> bool:
    """Whether the case's discussion must be withheld from a member of this role."""
    return not can_see_holdout(role) and key_in_holdout(suite, key)


def comments_of(suite: EvalSuite, key: str) -> QuerySet[CaseComment]:
    return CaseComment.objects.filter(suite=suite, key=key).select_related("author").order_by("created_at", "id")


def disputes_of(suite: EvalSuite, key: str) -> QuerySet[CaseDispute]:
    """Every dispute of the case, the open one (if any) first, then newest first."""
    return (
        CaseDispute.objects.filter(suite=suite, key=key)
        .select_related("opened_by", "resolved_by")
        .order_by("-opened_at", "-id")
    )


def open_dispute(suite: EvalSuite, key: str) -> CaseDispute | None:
    return disputes_of(suite, key).filter(resolved_at__isnull=True).first()


def disputed_keys(suite_id: int) -> set[str]:
    """Keys of the suite's cases with an open dispute: left out of decisions."""
    return set(CaseDispute.objects.filter(suite_id=suite_id, resolved_at__isnull=True).values_list("key", flat=True))


@dataclass(frozen=True)
class Discussion:
    comments: list[CaseComment]
    disputes: list[CaseDispute]

    @property
    def open_dispute(self) -> CaseDispute | None:
        return next((d for d in self.disputes if d.resolved_at is None), None)


def discussion_of(suite: EvalSuite, key: str) -> Discussion:
    """The thread and the disputes of a case, in two queries."""
    return Discussion(comments=list(comments_of(suite, key)), disputes=list(disputes_of(suite, key)))


# ---------------------------------------------------------------- changes


def case_comment_add(*, actor: User, suite: EvalSuite, key: str, body: str) -> CaseComment:
    text = _text(body, field="body", what="a comment", limit=COMMENT_MAX_CHARS)
    _check_key(suite, key)
    return CaseComment.objects.create(suite=suite, key=key, author=actor, body=text)


def case_dispute_open(*, actor: User, suite: EvalSuite, key: str, reason: str) -> CaseDispute:
    """Mark the case disputed; Conflict if it already is."""
    text = _text(reason, field="reason", what="why the case is disputed", limit=REASON_MAX_CHARS)
    _check_key(suite, key)
    try:
        with transaction.atomic():
            dispute = CaseDispute.objects.create(suite=suite, key=key, reason=text, opened_by=actor)
            audit_record(
                actor=actor,
                project_id=suite.project_id,
                action="case.dispute.open",
                object_type="case_dispute",
                object_id=dispute.pk,
                object_label=f"{suite.slug}/{key}",
                after={"suite": suite.slug, "key": key, "reason": text},
            )
    except IntegrityError:
        raise Conflict("This case is already disputed.") from None
    return dispute


def case_dispute_resolve(*, actor: User, suite: EvalSuite, key: str, note: str) -> CaseDispute:
    """Resolve the case's open dispute with a note; Conflict if none is open (someone
    else resolved it first: the conditional update lets exactly one of two win)."""
    text = _text(note, field="note", what="how the dispute was resolved", limit=REASON_MAX_CHARS)
    with transaction.atomic():
        dispute = CaseDispute.objects.filter(suite=suite, key=key, resolved_at__isnull=True).first()
        now = timezone.now()
        if dispute is None or not CaseDispute.objects.filter(pk=dispute.pk, resolved_at__isnull=True).update(
            resolved_at=now, resolved_by=actor, resolution_note=text
        ):
            raise Conflict("This case has no open dispute.")
        audit_record(
            actor=actor,
            project_id=suite.project_id,
            action="case.dispute.resolve",
            object_type="case_dispute",
            object_id=dispute.pk,
            object_label=f"{suite.slug}/{key}",
            before={"reason": dispute.reason},
            after={"note": text},
        )
    dispute.refresh_from_db()
    return dispute
