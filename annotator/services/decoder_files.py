"""The exported decoder of each model, kept in the media storage so that any host can serve it.

Web processes and workers may share nothing but the database, the broker and the media storage
(S3 when configured). The worker that exports a model's decoder publishes it there
(`storage.shared_file_write`): every file under the sha256 of its bytes, then the manifest,
which names those files and their hashes, last. A manifest therefore only ever points at files
that are complete, and two workers that export at once each write identical file blobs and
whichever manifest lands is consistent with what is stored.

Each file that gzip shrinks by at least precompressed.MIN_SAVING also gets a gzipped twin blob
(`<file sha256>.gz`), compressed once (`decoder_gzip`), so a client that accepts gzip is sent
those bytes with `Content-Encoding: gzip` and no web process compresses a decoder per request.
Compressing 33 MB of graphs takes seconds of CPU, so it is a follow-up task on the low-priority
atlas queue after the export is published, never in the way of the embeddings that wait on
the export. The twin is optional and written whole or not at all: until it exists (or where its
write failed) the file is served plain.

SAM_ONNX_DIR is only a local cache: the exporting worker builds there, and a web process that
runs the decoder itself (the server-side predict endpoint) downloads the files into
SAM_ONNX_DIR/<sha256>/, checking every hash, the first time it needs them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings

from annotator import precompressed, storage
from annotator.storage import STORAGE_ERRORS

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def _manifest_name(sha256: str) -> str:
    return f"onnx/{sha256}/{MANIFEST}"


def _blob_name(sha256: str, file_sha256: str) -> str:
    return f"onnx/{sha256}/files/{file_sha256}"


def decoder_cache_dir(*, sha256: str) -> Path:
    return Path(settings.SAM_ONNX_DIR) / sha256


def decoder_published(*, sha256: str) -> bool:
    """Whether the model's export is in the media storage (its manifest is written last)."""
    return bool(sha256) and storage.shared_file_exists(_manifest_name(sha256))


def decoder_publish(*, sha256: str, folder: Path) -> bool:
    """Copy a finished export folder into the media storage, files first and manifest last.
    True when this call wrote the manifest, False when another worker had published it."""
    manifest = json.loads((folder / MANIFEST).read_text())
    for name, info in manifest.get("files", {}).items():
        data = (folder / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise ValueError(f"{folder / name} does not match its manifest")
        storage.shared_file_write(_blob_name(sha256, info["sha256"]), data)
    return storage.shared_file_write(_manifest_name(sha256), (folder / MANIFEST).read_bytes())


def decoder_gzip(*, sha256: str) -> int:
    """Write the gzipped twins of a published export's files (those that gzip shrinks enough
    and that have none yet). Returns how many were written."""
    manifest = decoder_manifest(sha256=sha256)
    written = 0
    for info in (manifest or {}).get("files", {}).values():
        blob = _blob_name(sha256, info["sha256"])
        if storage.shared_file_exists(precompressed.gzip_name(blob)):
            continue
        written += _publish_gzip(blob, storage.shared_file_read(blob))
    return written


def _publish_gzip(blob: str, data: bytes) -> bool:
    # Level 9 once per export (a few seconds for a 16 MB graph), mtime 0: the same file
    # always gives the same twin, whichever worker writes it.
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    if len(packed) > (1 - precompressed.MIN_SAVING) * len(data):
        return False
    try:
        return storage.shared_file_write(precompressed.gzip_name(blob), packed)
    except STORAGE_ERRORS as exc:
        # Storage writes are whole or absent, so no half twin is left: the file goes plain.
        log.warning("gzip twin of decoder file %s not stored (%s); served plain", blob, exc)
        return False


def decoder_manifest(*, sha256: str) -> dict[str, Any] | None:
    """The published manifest, or None while the model is not exported yet. Read from the
    storage each time (a small object; the file views' answers are cached by the browser)."""
    try:
        manifest: dict[str, Any] = json.loads(storage.shared_file_read(_manifest_name(sha256)))
    except FileNotFoundError:
        return None
    return manifest


def decoder_file_open(*, sha256: str, name: str) -> tuple[Any, int] | None:
    """One published file by its name in the export (e.g. decode.onnx), opened for streaming,
    with its size; None for a name the manifest does not list."""
    manifest = decoder_manifest(sha256=sha256)
    if manifest is None:
        return None
    if name == MANIFEST:
        data = storage.shared_file_read(_manifest_name(sha256))
        return BytesIO(data), len(data)
    info = manifest.get("files", {}).get(name)
    if info is None:
        return None
    try:
        return storage.shared_file_open(_blob_name(sha256, info["sha256"])), int(info["bytes"])
    except FileNotFoundError:
        return None


class DecoderFile(NamedTuple):
    """A published file opened for streaming: `handle` holds `size` bytes, gzipped when
    `encoding` is "gzip" (then `decoded_size` is the file's own size)."""

    handle: Any
    size: int
    encoding: str | None
    decoded_size: int


def decoder_file_open_encoded(*, sha256: str, name: str, accept_gzip: bool) -> DecoderFile | None:
    """Like `decoder_file_open`, but the gzipped twin where the client accepts gzip and the
    export has one; None for a name the manifest does not list."""
    if accept_gzip and name != MANIFEST:
        info = ((decoder_manifest(sha256=sha256) or {}).get("files") or {}).get(name)
        if info is not None:
            twin = precompressed.gzip_name(_blob_name(sha256, info["sha256"]))
            try:
                size = storage.shared_file_size(twin)
                return DecoderFile(storage.shared_file_open(twin), size, "gzip", int(info["bytes"]))
            except FileNotFoundError:
                pass  # published without a twin: plain
    opened = decoder_file_open(sha256=sha256, name=name)
    if opened is None:
        return None
    return DecoderFile(opened[0], opened[1], None, opened[1])


def decoder_fetch(*, sha256: str) -> Path:
    """The export as a local folder (SAM_ONNX_DIR/<sha256>/), downloaded from the media storage
    and checked against the manifest's hashes the first time; renamed into place whole, so
    concurrent callers and a crash midway never leave a partial folder under the real name."""
    target = decoder_cache_dir(sha256=sha256)
    if (target / MANIFEST).is_file():
        return target
    manifest = decoder_manifest(sha256=sha256)
    if manifest is None:
        raise FileNotFoundError(f"the decoder of model {sha256} is not exported yet")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.fetch-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, info in manifest.get("files", {}).items():
            data = storage.shared_file_read(_blob_name(sha256, info["sha256"]))
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                raise ValueError(f"stored decoder file {name} of {sha256} is corrupt")
            (tmp / name).write_bytes(data)
        (tmp / MANIFEST).write_bytes(storage.shared_file_read(_manifest_name(sha256)))
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
