"""read_zip: a hostile archive is refused with the entry named; nothing is extracted."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from evolab.core.errors import ValidationFailed
from evolab.harnesses.archive import MAX_ZIP_BYTES, read_zip
from evolab.harnesses.tree import MAX_FILE_BYTES
from tests.harnesses.factories import make_zip


def _read(data: bytes) -> dict[str, str]:
    return read_zip(io.BytesIO(data)).files


def test_it_reads_nested_text_files() -> None:
    files = _read(make_zip({"harness.yaml": "sampling: {}\n", "skills/a/b.md": "b\n"}))
    assert files == {"harness.yaml": "sampling: {}\n", "skills/a/b.md": "b\n"}


def test_it_strips_one_common_top_folder() -> None:
    files = _read(make_zip({"my-harness/system.md": "s", "my-harness/skills/x.md": "x", "my-harness/": ""}))
    assert files == {"skills/x.md": "x", "system.md": "s"}


def test_it_keeps_the_top_folder_when_files_sit_beside_it() -> None:
    files = _read(make_zip({"skills/x.md": "x", "system.md": "s"}))
    assert set(files) == {"skills/x.md", "system.md"}


def test_it_ignores_os_metadata_but_keeps_dotfiles() -> None:
    contents = read_zip(
        io.BytesIO(make_zip({"system.md": "s", "__MACOSX/._system.md": "junk", ".DS_Store": "junk", ".notes": "keep"}))
    )
    assert contents.files == {".notes": "keep", "system.md": "s"}
    assert set(contents.ignored) == {"__MACOSX/._system.md", ".DS_Store"}


@pytest.mark.parametrize("name", ["../evil.md", "/etc/passwd", "a/../../x.md", "a\\..\\x.md", "C:/x.md"])
def test_zip_slip_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _read(make_zip({"system.md": "s", name: "evil"}))
    assert caught.value.field == f"files[{name!r}]"


def test_a_folder_entry_that_escapes_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        _read(make_zip({"../up/": "", "system.md": "s"}))


def test_symlinks_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="symbolic link"):
        _read(make_zip({"system.md": "s"}, symlinks={"secrets.md": "/etc/shadow"}))


def test_binary_files_are_refused_by_name() -> None:
    with pytest.raises(ValidationFailed, match=r"logo\.png.*binary"):
        _read(make_zip({"system.md": "s", "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00"}))


def test_non_utf8_text_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=r"latin\.md.*UTF-8"):
        _read(make_zip({"latin.md": "café".encode("latin-1")}))


def test_a_byte_order_mark_is_dropped() -> None:
    assert _read(make_zip({"a.md": "\ufeffhello".encode()})) == {"a.md": "hello"}


def test_a_file_declared_too_big_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=r"big\.md"):
        _read(make_zip({"big.md": "x" * (MAX_FILE_BYTES + 1)}))


def test_a_zip_bomb_lying_about_its_size_is_refused() -> None:
    # Declare 10 bytes in both headers, store a megabyte of zeros that inflates further.
    data = bytearray(make_zip({"bomb.md": "a" * (MAX_FILE_BYTES * 4)}))
    real = MAX_FILE_BYTES * 4
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature)
        assert struct.unpack_from("<I", data, at + offset)[0] == real
        struct.pack_into("<I", data, at + offset, 10)
    with pytest.raises(ValidationFailed, match=r"bomb\.md"):
        _read(bytes(data))


def test_an_archive_over_the_upload_limit_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="MiB") as caught:
        _read(b"PK" + b"\x00" * MAX_ZIP_BYTES)
    assert caught.value.field == "file"


def test_not_a_zip() -> None:
    with pytest.raises(ValidationFailed, match=r"not a \.zip") as caught:
        _read(b"hello")
    assert caught.value.field == "file"


def test_an_empty_archive_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no files"):
        _read(make_zip({"only-a-folder/": ""}))


def test_encrypted_entries_are_refused() -> None:
    data = bytearray(make_zip({"secret.md": "s"}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature)
        flags = struct.unpack_from("<H", data, at + offset)[0]
        struct.pack_into("<H", data, at + offset, flags | 0x1)
    with pytest.raises(ValidationFailed, match="encrypted"):
        _read(bytes(data))


def test_duplicate_entries_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.md", "one")
        with pytest.warns(UserWarning):
            archive.writestr("a.md", "two")
    with pytest.raises(ValidationFailed, match="twice"):
        _read(buffer.getvalue())
