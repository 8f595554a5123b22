"""Read a harness tree out of an uploaded .zip without trusting the archive.

Pure Python, no ORM. Every entry name goes through the same path rules as files typed
in the browser, so `../evil`, `/etc/passwd` and `C:\\x` are refused, never extracted.
Nothing touches the file system: entries are read into memory with hard limits, and the
limits are checked twice, against the sizes the archive declares and against the bytes
actually inflated (a zip bomb can lie in its headers).
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from typing import IO

from evolab.core.errors import ValidationFailed
from evolab.harnesses.tree import MAX_FILE_BYTES, MAX_TREE_BYTES, normalise_path, normalise_tree

MAX_ZIP_BYTES = 4 * 1024 * 1024
# Counts every entry, folders and skipped metadata included, so an archive of a million
# empty entries is refused before it is walked.
MAX_ZIP_ENTRIES = 1000
# Operating-system metadata that archivers add on their own; skipping it loses nothing
# the author wrote. Other dotfiles are kept: dropping them silently would lose content.
IGNORED_FOLDERS = ("__MACOSX",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class ZipContents:
    files: dict[str, str]
    ignored: tuple[str, ...]


def _zip_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="file")


def _entry_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", field=f"files[{name!r}]", details={"path": name})


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix archivers keep the file mode in the high 16 bits of external_attr.
    return stat.S_ISLNK(info.external_attr >> 16)


def _is_ignored(name: str) -> bool:
    parts = name.split("/")
    return parts[0] in IGNORED_FOLDERS or parts[-1] in IGNORED_NAMES


def _strip_common_folder(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop one top folder shared by every file (`my-harness/system.md` → `system.md`)."""
    tops = {path.split("/", 1)[0] for path, _ in pairs}
    if len(tops) != 1 or any("/" not in path for path, _ in pairs):
        return pairs
    return [(path.split("/", 1)[1], text) for path, text in pairs]


def read_zip(upload: IO[bytes]) -> ZipContents:
    """The text files of a zip archive as a canonical tree (see `tree.normalise_tree`).

    Refuses archives that are not zips, too big, encrypted, or that contain symlinks,
    unsafe or duplicate names, binary or non-UTF-8 files; the error names the entry.
    """
    upload.seek(0, 2)
    size = upload.tell()
    upload.seek(0)
    if size > MAX_ZIP_BYTES:
        raise _zip_error(f"The archive has {size:,} bytes; upload at most {MAX_ZIP_BYTES // (1024 * 1024)} MiB.")
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError):
        raise _zip_error("This is not a .zip archive.") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise _zip_error(f"The archive has {len(entries)} entries; at most {MAX_ZIP_ENTRIES} are accepted.")
        pairs: list[tuple[str, str]] = []
        ignored: list[str] = []
        declared_total = 0
        inflated_total = 0
        for info in entries:
            name = info.filename
            if info.is_dir():
                # A folder entry is checked like a file name (a `../` folder is refused
                # too), but only the files inside it are stored.
                normalise_path(name.rstrip("/"))
                continue
            if _is_ignored(name):
                ignored.append(name)
                continue
            if _is_symlink(info):
                raise _entry_error(name, "symbolic links are refused; put the file itself in the archive.")
            path = normalise_path(name)
            if info.flag_bits & 0x1:
                raise _entry_error(name, "encrypted entries cannot be read.")
            if info.file_size > MAX_FILE_BYTES:
                raise _entry_error(
                    name, f"{info.file_size:,} bytes; a file may have at most {MAX_FILE_BYTES // 1024} KiB."
                )
            declared_total += info.file_size
            if declared_total > MAX_TREE_BYTES:
                raise _zip_error(f"The files add up to more than {MAX_TREE_BYTES // (1024 * 1024)} MiB.")
            data = _read_entry(archive, info, name)
            inflated_total += len(data)
            if inflated_total > MAX_TREE_BYTES:
                raise _zip_error(f"The files add up to more than {MAX_TREE_BYTES // (1024 * 1024)} MiB.")
            pairs.append((path, _decode(name, data)))
    if not pairs:
        raise _zip_error("The archive holds no files.")
    return ZipContents(files=normalise_tree(_strip_common_folder(pairs)), ignored=tuple(ignored))


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    try:
        with archive.open(info) as handle:
            # Read one byte past the limit: an entry that inflates beyond what it declared
            # is caught here, before it can fill memory.
            data = handle.read(MAX_FILE_BYTES + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise _entry_error(name, f"cannot be read ({exc}).") from None
    if len(data) > MAX_FILE_BYTES:
        raise _entry_error(name, f"inflates beyond {MAX_FILE_BYTES // 1024} KiB.")
    return data


def _decode(name: str, data: bytes) -> str:
    if b"\x00" in data:
        raise _entry_error(name, "is a binary file; a harness holds text files only.")
    try:
        # A byte-order mark is an editor artefact, not content: it is dropped so the same
        # file uploaded or typed in the browser gets the same digest.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _entry_error(name, "is not UTF-8 text; a harness holds text files only.") from None
