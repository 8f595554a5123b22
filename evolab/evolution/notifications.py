"""Notifications: a row per person (the nav badge and the inbox read them) and, when the
person has an email address, a short email sent once the change that caused it commits.

A notification's text names the proposal and what happened, never a comment's words or a
case's content: it can reach an inbox outside the app, and a comment on a held-out case
must not leave the page that only maintainers see.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from evolab.evolution.models import Notification, Proposal
from evolab.projects.models import Project

logger = logging.getLogger(__name__)


def notify(*, user: User, project: Project, kind: str, text: str, proposal: Proposal | None = None) -> Notification:
    """Record a notification for `user`; call it inside the transaction of the change it
    tells about, so that a change rolled back notifies nobody."""
    notification = Notification.objects.create(
        user=user, project=project, proposal=proposal, kind=kind, text=text[:300]
    )
    if user.email:
        address, subject = user.email, f"[evolab · {project.name}] {text}"[:200]
        transaction.on_commit(lambda: _send(address, subject, text))
    return notification


def notify_each(
    users: Iterable[User | None],
    *,
    project: Project,
    kind: str,
    text: str,
    proposal: Proposal | None = None,
    skip: User | None = None,
) -> list[Notification]:
    """`notify` each distinct person once, leaving out `skip` (who caused it) and None."""
    seen: set[int] = {skip.pk} if skip is not None else set()
    sent = []
    for user in users:
        if user is not None and user.pk not in seen:
            seen.add(user.pk)
            sent.append(notify(user=user, project=project, kind=kind, text=text, proposal=proposal))
    return sent


def _send(address: str, subject: str, text: str) -> None:
    # Mail is a courtesy copy: the notification row is already committed, so a mail
    # server that refuses is logged and the request that caused it still succeeds.
    try:
        send_mail(subject, f"{text}\n\n— evolab", settings.DEFAULT_FROM_EMAIL, [address])
    except Exception:
        logger.exception("could not email a notification to %s", address)


def notifications_of(user: User) -> QuerySet[Notification]:
    """Newest first, with the project and proposal they point at."""
    return Notification.objects.filter(user=user).select_related("project", "proposal").order_by("-pk")


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def mark_read(user: User, ids: Iterable[int] | Literal["all"]) -> int:
    """Mark the user's own notifications read (others' ids are ignored); returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids != "all":
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())
