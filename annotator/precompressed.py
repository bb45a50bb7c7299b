"""Files stored twice, plain and gzipped (`<name>.gz` beside them), so a response to a client
that accepts gzip is the stored compressed bytes: compressed once when written, never per
request (Django's GZipMiddleware would deflate a 1 MB embedding on every download, and would
break its ETag). The embedding's uint8 codes compress; the atlas is deflated inside its own
format already, so it is stored once.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.http import HttpRequest

#: Below this the header and a round trip cost more than the bytes saved.
MIN_SAVING = 0.05


def gzip_name(name: str) -> str:
    return f"{name}.gz"


def save_gzip(*, storage: Storage, name: str, data: bytes) -> bool:
    """Store `data` gzipped as `<name>.gz` when that saves at least MIN_SAVING of the bytes;
    mtime 0 so the same bytes always give the same file."""
    packed = gzip.compress(data, compresslevel=6, mtime=0)
    if len(packed) > (1 - MIN_SAVING) * len(data):
        return False
    target = gzip_name(name)
    if storage.exists(target):
        storage.delete(target)
    saved = storage.save(target, ContentFile(packed))
    if saved != target:
        # Taken meanwhile: a twin under another name would never be looked up, only left over.
        storage.delete(saved)
        return False
    return True


def gzip_folder(folder: Path, *, suffixes: Sequence[str]) -> list[str]:
    """Write `<file>.gz` beside each file of `folder` with one of `suffixes`, where it pays
    (the decoder export, before it is renamed into place). Returns the names gzipped."""
    done = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix not in suffixes:
            continue
        data = path.read_bytes()
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        if len(packed) <= (1 - MIN_SAVING) * len(data):
            path.with_name(gzip_name(path.name)).write_bytes(packed)
            done.append(path.name)
    return done


def delete(*, storage: Storage, name: str) -> None:
    """Remove a stored file and its gzipped twin, if any."""
    storage.delete(name)
    delete_gzip(storage=storage, name=name)


def delete_gzip(*, storage: Storage, name: str) -> None:
    """Remove the gzipped twin of `name`, if any (best effort: storage that fails here has
    left no twin to serve, or a whole one)."""
    try:
        if storage.exists(gzip_name(name)):
            storage.delete(gzip_name(name))
    except OSError:
        pass


_GZIP = re.compile(r"(?:^|,)\s*gzip\s*(?:;\s*q\s*=\s*(?P<q>[0-9.]+))?\s*(?:,|$)", re.I)


def accepts_gzip(request: HttpRequest) -> bool:
    """Whether Accept-Encoding lists gzip with a non-zero quality."""
    match = _GZIP.search(request.headers.get("Accept-Encoding", ""))
    if match is None:
        return False
    try:
        return float(match.group("q") or 1) > 0
    except ValueError:
        return False
