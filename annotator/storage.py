"""Media storage that never leaves a partial file under a real name.

Django's FileSystemStorage creates the target file and writes into it: when the disk fills up
(ENOSPC), a quota is hit or the process is killed mid-write, a truncated image or embedding stays
behind under the name a row would point to. Here the bytes go to a hidden temporary file in the
same folder, which is hard-linked to the real name only once complete (a link, not a rename, so
an existing file is never overwritten and the name is chosen exactly as Django would), and the
temporary file is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage


def _storage_errors() -> tuple[type[Exception], ...]:
    """What a media write raises when the storage refuses it: OSError on local disks; on S3
    (the optional `s3` extra) botocore's errors, which are not OSErrors (a missing bucket,
    denied credentials, an endpoint that does not answer)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


STORAGE_ERRORS = _storage_errors()


# Filesystems without hard links (some network and FUSE mounts) answer these; a rename of the
# finished file after an existence check is the fallback there.
NO_LINKS = {errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


class AtomicFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content: Any) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        try:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError:
            raise FileExistsError(f"{directory} exists and is not a directory.") from None
        temporary = os.path.join(
            directory, f".{os.path.basename(full_path)}.{secrets.token_hex(6)}.partial"
        )
        # 0o666 as Django's own storage: the process umask applies.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temporary, flags, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk if isinstance(chunk, bytes) else chunk.encode())
            if self.file_permissions_mode is not None:
                os.chmod(temporary, self.file_permissions_mode)
            while True:
                try:
                    _link(temporary, full_path)
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                    full_path = self.path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        self._ensure_location_group_id(full_path)
        return os.path.relpath(full_path, self.location).replace("\\", "/")


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "File exists", target) from None
        os.rename(source, target)


# --- Files one host writes for another ---------------------------------------------------------
# Web processes and workers may run on separate hosts that share only the database, the broker
# and the media storage (S3 when configured), so anything a worker writes for the web process (the
# exported decoder) lives in the media storage under `shared/`, never in a local folder. Callers
# name these files by content (a checkpoint's or a file's sha256), so two hosts that race to write
# one write the same bytes; a write is whole or absent (a linked temporary file on disk, a single
# PUT on S3), so a reader never sees half a file; on S3 a conditional PUT (If-None-Match) makes
# "whoever writes first keeps the name" hold even for writers that race past an exists() check.

SHARED_PREFIX = "shared"


def _shared_key(name: str) -> str:
    parts = name.split("/")
    if not name or any(part in {"", ".", ".."} or part.startswith(".") for part in parts):
        raise ValueError(f"not a plain shared file name: {name!r}")
    return f"{SHARED_PREFIX}/{name}"


def shared_file_exists(name: str) -> bool:
    return bool(default_storage.exists(_shared_key(name)))


def shared_file_write(name: str, data: bytes) -> bool:
    """Store `data` under `name` unless a file is there already: True when this call wrote it,
    False when another process got there first (its copy is kept)."""
    key = _shared_key(name)
    conditional = _s3_put_if_absent(key, data)
    if conditional is not None:
        return conditional
    if default_storage.exists(key):
        return False
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:
        # Another writer won between the check and the save; the storage picked a new name
        # rather than overwrite: drop our copy.
        default_storage.delete(saved)
        return False
    return True


def _s3_put_if_absent(key: str, data: bytes) -> bool | None:
    """On S3, one conditional PUT (`If-None-Match: *`): the store itself decides which of two
    racing writers gets the name, where an exists() check then a save() lets both through and
    the later one overwrite. None when the storage is not S3, or the S3-compatible server does
    not implement conditional writes (501): the caller then checks and saves."""
    bucket = getattr(default_storage, "bucket", None)
    if bucket is None:
        return None
    from botocore.exceptions import ClientError
    from storages.utils import clean_name

    # The object's key as django-storages names it (S3_PREFIX, the storage's `location`, first).
    full_key = default_storage._normalize_name(clean_name(key))
    try:
        bucket.Object(full_key).put(Body=data, IfNoneMatch="*")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if error.get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"}:
            # 412: the name is taken; 409: another conditional write to it is in flight and
            # will take it.
            return False
        if status == 501 or error.get("Code") == "NotImplemented":
            return None
        raise
    return True


def shared_file_size(name: str) -> int:
    """The stored size in bytes; FileNotFoundError when it is not there."""
    key = _shared_key(name)
    if not default_storage.exists(key):
        raise FileNotFoundError(key)
    return int(default_storage.size(key))


def shared_file_open(name: str) -> Any:
    """The file opened for reading (a local file, or S3 streamed in chunks); FileNotFoundError
    when it is not there."""
    key = _shared_key(name)
    if not default_storage.exists(key):
        raise FileNotFoundError(key)
    return default_storage.open(key, "rb")


def shared_file_read(name: str) -> bytes:
    with shared_file_open(name) as handle:
        data: bytes = handle.read()
    return data
