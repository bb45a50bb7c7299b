"""Image uploads: single files and zip archives, validated, normalised and stored."""

from __future__ import annotations

import errno
import io
import os
import posixpath
import zipfile
from collections.abc import Iterator, Sequence

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from annotator.images import ImageRejected, file_name_of, is_zip_archive, normalise_image
from annotator.models import Image, Project
from annotator.services.embeddings import embedding_request
from annotator.services.errors import (
    Conflict,
    InsufficientStorage,
    Invalid,
    ServiceError,
    TooLarge,
    Unavailable,
    User,
)
from annotator.services.quotas import upload_quota_check
from annotator.storage import STORAGE_ERRORS


def image_create(*, project: Project, file: File, uploaded_by: User) -> Image:
    """Validate, normalise and store one image; its embedding is enqueued when the transaction
    commits (so the worker never looks for a row that is not there yet)."""
    data = upload_read(file)
    name = _name_of(_client_name(file) or "image")
    image = None
    try:
        with transaction.atomic():
            image = _image_store(project=project, data=data, name=name, uploaded_by=uploaded_by)
            upload_quota_check(project=project)
            embedding_request(images=[image])
    except Exception:
        if image is not None:
            image.file.delete(save=False)
        raise
    return image


def image_import(*, project: Project, files: Sequence[File], uploaded_by: User) -> list[Image]:
    """Upload several images and zip archives at once, all or nothing.

    Zip entries are read one at a time (memory holds one image, not the whole archive); an
    entry whose path escapes the archive refuses the whole upload, since it can only be hostile.
    When anything is refused, the files already stored for this upload are deleted again.
    """
    images: list[Image] = []
    try:
        with transaction.atomic():
            for upload in files:
                name = _name_of(_client_name(upload) or "upload")
                data = upload_read(upload)
                # By the leading bytes: an image with a zip appended is a polyglot, refused by
                # normalise_image, not an archive to unpack.
                entries = _zip_entries(name, data) if is_zip_archive(data) else iter([(name, data)])
                for entry_name, content in entries:
                    images.append(
                        _image_store(
                            project=project, data=content, name=entry_name, uploaded_by=uploaded_by
                        )
                    )
            if not images:
                raise Invalid("No images were uploaded.")
            upload_quota_check(project=project)
            embedding_request(images=images)
    except Exception:
        for image in images:
            image.file.delete(save=False)
        raise
    return images


def _client_name(file: File) -> str:
    # The name as the client sent it (annotator/api/upload_handlers.py); Django's own `name`
    # is cut to 255 characters.
    return str(getattr(file, "client_name", None) or getattr(file, "name", "") or "")


def _name_of(name: str) -> str:
    try:
        return file_name_of(name)
    except ImageRejected as exc:
        raise Invalid(str(exc)) from None


def upload_read(file: File) -> bytes:
    """An uploaded file's bytes, refused (TooLarge) over IMAGE_MAX_UPLOAD_BYTES; images and
    annotation imports share the limit."""
    size = getattr(file, "size", None)
    if size is not None and size > settings.IMAGE_MAX_UPLOAD_BYTES:
        raise TooLarge(f"{file.name}: {size} bytes is over IMAGE_MAX_UPLOAD_BYTES.")
    file.seek(0)
    return file.read()


def _zip_entries(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The files of an uploaded zip, after annotator.formats.safe_zip has checked the central
    directory (zip slip, links, entry count, total size, compression ratio). Declared sizes can
    lie, so each entry is read with a bound as well."""
    # annotator.formats pulls in OpenCV and pycocotools (annotator.geometry): loaded on the
    # first zip, not at every web process start.
    from annotator.formats import FormatError
    from annotator.formats.safe_zip import ZipLimits, check_zip

    limits = ZipLimits(max_entries=10_000, max_total_bytes=settings.IMAGE_MAX_ZIP_BYTES)
    bound = settings.IMAGE_MAX_UPLOAD_BYTES
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise Invalid(f"{name}: not a readable zip archive ({exc}).") from None
    with archive:
        try:
            members = check_zip(archive, limits)
        except FormatError as exc:
            raise Invalid(f"{name}: {exc}.") from None
        for info, member in members:
            base = posixpath.basename(member)
            if base.startswith(".") or member.startswith("__MACOSX/"):
                continue  # Finder metadata, not images
            if info.file_size > bound:
                raise TooLarge(f"{name}: entry {member!r} is over IMAGE_MAX_UPLOAD_BYTES.")
            try:
                with archive.open(info) as f:
                    content = f.read(bound + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise Invalid(f"{name}: entry {member!r} is unreadable ({exc}).") from None
            if len(content) > bound:
                raise TooLarge(f"{name}: entry {member!r} is over IMAGE_MAX_UPLOAD_BYTES.")
            if is_zip_archive(content):
                # Unpacking archives inside archives is how 42.zip-style bombs multiply.
                raise Invalid(f"{name}: entry {member!r} is a zip inside the zip; upload it alone.")
            yield base, content


def _image_store(*, project: Project, data: bytes, name: str, uploaded_by: User) -> Image:
    # The file is stored under its sha256 (models.image_upload_to): the name only labels the
    # row, so it never meets a path; it is checked for length and normalised to NFC here.
    name = _name_of(name)
    try:
        normal = normalise_image(data, name=name)
    except ImageRejected as exc:
        raise (TooLarge if exc.code == "too_large" else Invalid)(str(exc)) from None
    duplicate = project.images.filter(sha256=normal.sha256).first()
    if duplicate:
        raise Conflict(f"{name}: the project already has this image (id {duplicate.pk}).")
    image = Image(
        project=project,
        original_name=name,
        width=normal.width,
        height=normal.height,
        sha256=normal.sha256,
        file_size=len(normal.content),
        uploaded_by=uploaded_by,
    )
    try:
        image.file.save(
            f"{normal.sha256[:32]}.{normal.extension}", ContentFile(normal.content), False
        )
    except STORAGE_ERRORS as exc:
        raise _storage_error(name, exc) from exc
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # Two uploads of the same file raced; the loser's file is an orphan.
        image.file.delete(save=False)
        raise Conflict(f"{name}: the project already has this image.") from None
    return image


def _storage_error(name: str, exc: Exception) -> ServiceError:
    """The upload's answer when media storage refuses a write: 507 for a full disk or quota,
    503 for anything else (unwritable, missing or read-only storage, an object store that
    refuses or does not answer). Nothing partial stays behind: the storage writes whole files
    only (annotator.storage), the transaction rolls the rows back and image_import deletes the
    files this upload stored before."""
    if not isinstance(exc, OSError):
        return Unavailable(f"{name}: not stored, the object storage refused the write ({exc}).")
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"{name}: not stored, the image storage is full ({reason}).")
    return Unavailable(f"{name}: not stored, the image storage refused the write ({reason}).")


def image_store(*, project: Project, data: bytes, name: str, uploaded_by: User) -> Image:
    """One image from bytes through the upload checks, stored; the caller's transaction does
    the quota check and the embedding request for its whole batch (an import's archive)."""
    return _image_store(project=project, data=data, name=name, uploaded_by=uploaded_by)


def upload_name(name: str) -> str:
    """A client's file name as uploads keep it (NFC, at most 255 bytes), or Invalid."""
    return _name_of(name)
