"""One size limit for every uploaded file (EVOLAB_MAX_UPLOAD_MB), with one message.

Django's own limits answer too late or too vaguely for a person: a file over
FILE_UPLOAD_MAX_MEMORY_SIZE is merely spooled to disk, and DATA_UPLOAD_MAX_MEMORY_SIZE
covers form fields, not files. So each upload path (browser forms and API operations)
checks the file itself before reading it, and says "the file is X MB; the limit is Y MB".
A refused upload is never read, so nothing changes.
"""

from __future__ import annotations

from typing import Protocol

from django import forms
from django.conf import settings

from evolab.core.errors import ValidationFailed

MB = 1024 * 1024


class Sized(Protocol):
    size: int | None
    name: str | None


class UploadTooLarge(ValidationFailed):
    code = "too_large"
    status = 413


def upload_limit_bytes() -> int:
    return int(settings.EVOLAB_MAX_UPLOAD_MB * MB)


def oversize_message(upload: Sized) -> str | None:
    """The error for a file over the limit, or None when it fits."""
    size, limit = upload.size or 0, upload_limit_bytes()
    if size <= limit:
        return None
    name = f"{upload.name} " if upload.name else ""
    # Megabytes with enough decimals to differ from the limit; bytes when even three do not.
    shown = next((f"{size / MB:.{d}f} MB" for d in (1, 2, 3) if float(f"{size / MB:.{d}f}") > limit / MB), None)
    return f"The file {name}is {shown or f'{size:,} bytes'}; the limit is {settings.EVOLAB_MAX_UPLOAD_MB:g} MB."


def check_upload_size(upload: Sized, *, field: str = "file") -> None:
    """For API operations: raise UploadTooLarge (413, the API's error format)."""
    message = oversize_message(upload)
    if message is not None:
        raise UploadTooLarge(message, field=field)


def validate_upload_size(upload: Sized) -> None:
    """For form FileFields (`validators=[validate_upload_size]`): a field error."""
    message = oversize_message(upload)
    if message is not None:
        raise forms.ValidationError(message, code="too_large")
