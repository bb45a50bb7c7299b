"""Zip imports refuse zip slip, symlinks and bombs, and never write outside their temp dir."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from annotator.formats import FormatError
from annotator.formats.safe_zip import ZipLimits, extract_to, extracted


def make_zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


def test_a_clean_zip_is_extracted_into_a_temp_dir_that_is_removed_afterwards() -> None:
    data = make_zip({"data.yaml": b"names: [a]\n", "labels/x.txt": b"0 0 0 1 0 1 1\n", "d/": b""})
    with extracted(data) as root:
        assert (root / "labels" / "x.txt").read_bytes() == b"0 0 0 1 0 1 1\n"
        kept = root
    assert not kept.exists()


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt", "C:/evil.txt"]
)
def test_entries_that_escape_the_archive_are_refused(name: str, tmp_path: Path) -> None:
    target = tmp_path / "inside"
    target.mkdir()
    with pytest.raises(FormatError, match="escapes the archive|absolute path"):
        extract_to(make_zip({"ok.txt": b"fine", name: b"pwned"}), target)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["inside"], "nothing was written"


def test_a_harmless_dot_dot_inside_the_archive_is_allowed(tmp_path: Path) -> None:
    extract_to(make_zip({"a/../b.txt": b"ok"}), tmp_path)
    assert (tmp_path / "b.txt").read_bytes() == b"ok"


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("labels/link.txt")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(FormatError, match="symbolic link"):
        extract_to(buf.getvalue(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_zip_bomb_is_refused_before_extraction(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("masks/huge.png", "w") as entry,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(64):
            entry.write(chunk)
    assert len(buf.getvalue()) < 200_000, "64 MiB of zeros deflates to a small file"
    with pytest.raises(FormatError, match="zip bomb"):
        extract_to(buf.getvalue(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_total_size_and_entry_count_limits(tmp_path: Path) -> None:
    data = make_zip({f"labels/{i}.txt": bytes(600) for i in range(10)})
    with pytest.raises(FormatError, match="more than 5000 bytes"):
        extract_to(data, tmp_path, ZipLimits(max_total_bytes=5000))
    with pytest.raises(FormatError, match="10 entries, at most 5"):
        extract_to(data, tmp_path, ZipLimits(max_entries=5))


def test_declared_sizes_that_lie_are_caught_while_extracting(tmp_path: Path) -> None:
    data = bytearray(make_zip({"a.txt": bytes(5000)}, compression=zipfile.ZIP_STORED))
    # Shrink the declared size in the central directory: the check passes, the stream must not.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    with pytest.raises(FormatError):
        extract_to(bytes(data), tmp_path, ZipLimits(max_total_bytes=1000))


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_not_a_zip_is_a_format_error(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a zip"):
        extract_to(data, tmp_path)


def test_a_file_and_a_folder_of_the_same_name_are_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="cannot be extracted"):
        extract_to(make_zip({"labels": b"file", "labels/a.txt": b"0"}), tmp_path)
