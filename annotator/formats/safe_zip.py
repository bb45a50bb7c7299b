"""Zip reading for imports that refuses zip slip, symlinks and zip bombs.

Every import of an uploaded archive goes through ``extracted()``: it checks the whole central
directory first (entry count, names, types, declared sizes and compression ratios), then
extracts into a fresh temporary directory while counting the bytes actually written, since the
sizes a zip declares can lie.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from annotator.formats.dataset import FormatError

ZipSource = str | Path | bytes | BinaryIO


@dataclass(frozen=True)
class ZipLimits:
    """Bounds for one archive. The defaults fit a few thousand photos with their labels."""

    max_entries: int = 50_000
    max_total_bytes: int = 4 * 1024**3
    # Deflate reaches ~1000:1 on runs of zeros; PNG masks, JPEGs and label text stay far below
    # 100:1, so a higher ratio on a sizeable entry means a bomb, not a dataset.
    max_ratio: float = 100.0
    # Tiny entries (empty label files, data.yaml) have meaningless ratios.
    ratio_min_bytes: int = 1024 * 1024


def _open(source: ZipSource) -> zipfile.ZipFile:
    try:
        if isinstance(source, bytes):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise FormatError(f"not a zip file: {exc}") from None
    except OSError as exc:
        raise FormatError(f"cannot read zip: {exc}") from None


def safe_member_name(name: str) -> str | None:
    """Normalised relative path of an entry, None for a directory entry.

    Raises FormatError for absolute paths, drive letters and ``..`` that would leave the
    extraction directory.
    """
    unix = name.replace("\\", "/")
    if unix.startswith("/") or (len(unix) > 1 and unix[1] == ":"):
        raise FormatError(f"zip entry {name!r} has an absolute path")
    if "\x00" in unix:
        raise FormatError(f"zip entry {name!r} has a NUL byte in its name")
    norm = posixpath.normpath(unix)
    if norm == ".." or norm.startswith("../"):
        raise FormatError(f"zip entry {name!r} escapes the archive (zip slip)")
    if unix.endswith("/") or norm == ".":
        return None
    return norm


def check_zip(archive: zipfile.ZipFile, limits: ZipLimits) -> list[tuple[zipfile.ZipInfo, str]]:
    """Validate the central directory; returns (entry, safe relative name) for the files."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise FormatError(f"zip has {len(infos)} entries, at most {limits.max_entries} allowed")
    total = 0
    files = []
    for info in infos:
        name = safe_member_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise FormatError(f"zip entry {info.filename!r} is a symbolic link")
        if name is None or info.is_dir():
            continue
        # Only Unix-made zips carry a file type; permission bits alone (as Python's writestr
        # leaves them) or MS-DOS attributes mean a plain file.
        if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            raise FormatError(f"zip entry {info.filename!r} is not a regular file")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise FormatError(f"zip expands to more than {limits.max_total_bytes} bytes")
        if info.file_size >= limits.ratio_min_bytes and (
            info.file_size > limits.max_ratio * max(info.compress_size, 1)
        ):
            raise FormatError(
                f"zip entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}x"
                f" (more than {limits.max_ratio:.0f}x): refusing a possible zip bomb"
            )
        files.append((info, name))
    return files


def extract_to(source: ZipSource, destination: Path, limits: ZipLimits | None = None) -> None:
    """Extract a checked archive into ``destination`` (an existing, empty directory)."""
    limits = limits or ZipLimits()
    root = destination.resolve()
    with _open(source) as archive:
        files = check_zip(archive, limits)
        written = 0
        for info, name in files:
            target = (root / name).resolve()
            if not target.is_relative_to(root):
                raise FormatError(f"zip entry {info.filename!r} escapes the archive (zip slip)")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # "a" is a file and "a/b" another entry
                raise FormatError(
                    f"zip entry {info.filename!r} cannot be extracted: {exc}"
                ) from None
            try:
                with archive.open(info) as src, target.open("xb") as dst:
                    while chunk := src.read(1024 * 1024):
                        written += len(chunk)
                        if written > limits.max_total_bytes:
                            raise FormatError(
                                f"zip expands to more than {limits.max_total_bytes} bytes"
                            )
                        dst.write(chunk)
            except FileExistsError:
                raise FormatError(f"zip entry {info.filename!r} appears twice") from None
            except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as exc:
                raise FormatError(f"zip entry {info.filename!r} is corrupt: {exc}") from None
            except OSError as exc:
                raise FormatError(
                    f"zip entry {info.filename!r} cannot be extracted: {exc}"
                ) from None


@contextmanager
def extracted(source: ZipSource, limits: ZipLimits | None = None) -> Iterator[Path]:
    """Context manager: a temporary directory holding the checked archive, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="sam-annotator-import-"))
    try:
        extract_to(source, tmp, limits)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def as_directory(source: ZipSource, limits: ZipLimits | None = None) -> Iterator[Path]:
    """A folder as is, or a zip (path, bytes or file object) safely extracted."""
    if isinstance(source, str | Path) and Path(source).is_dir():
        yield Path(source)
        return
    if isinstance(source, str | Path) and not Path(source).exists():
        raise FormatError(f"{source} does not exist")
    with extracted(source, limits) as folder:
        yield folder
