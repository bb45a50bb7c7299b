"""Hover atlases: SAM's hover mask for every cell of a grid over each image, stored
beside its embedding (export_onnx/atlas_format.py) so the page paints a mask the moment the
cursor moves, before the exact decode comes back (frontend/src/annotate/atlas_hover.js).

Computed from the embedding, never instead of it: on CUDA in the embedding's own batch
(`atlas_compute_batch`, called by services/embeddings.py with the batch's wire bytes decoded
back, grid SAM_ATLAS_GRID_CUDA); on CPU by a follow-up task on the `SAM_ATLAS_QUEUE` queue once the
embedding row is ready (`atlas_enqueue`), grid SAM_ATLAS_GRID_CPU. A CPU atlas costs minutes of
decoder work, so only a worker that opts in (`-Q atlas`, at the lowest CPU priority in the demo)
takes it: embeddings and jobs never wait behind one, and the page never waits for it to start.
Both paths go through the project's `Segmenter` (SAM 1 or SAM 2.1) and start from the wire
bytes, the same the page decodes from. Grids and
128-pixel masks: bench/RESULTS.md, "Hover atlas".

An atlas belongs to one embedding file: it is stored only while the row still holds the
embedding it was computed from (a conditional UPDATE on the embedding's sha256), and
recomputing the embedding drops it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile

from annotator import queue
from annotator.models import Embedding
from annotator.services import sam_models
from annotator.services.errors import Conflict
from annotator.storage import STORAGE_ERRORS
from export_onnx import atlas_format, wire

log = logging.getLogger(__name__)

ATLAS_MASK_SIZE = 128


def atlas_grid(*, device_type: str) -> int:
    """Cells along the longest side for atlases computed on this kind of device."""
    return settings.SAM_ATLAS_GRID_CUDA if device_type == "cuda" else settings.SAM_ATLAS_GRID_CPU


def atlas_enqueue(*, embedding_ids: Sequence[int], force: bool = False) -> bool:
    """Enqueue the atlas of ready rows on the atlas queue; False when the broker is down
    (the page hovers without one; `manage.py embeddings --atlas` catches up later). Nothing is
    sent when SAM_ATLAS_QUEUE is empty (no worker computes CPU atlases here)."""
    ids = list(embedding_ids)
    if not ids or not settings.SAM_ATLAS_QUEUE:
        return True
    # The queue named at send time (not only by the settings' routes), so a test or a second
    # installation can point one process at another atlas queue.
    args = [ids, force] if force else [ids]
    return queue.send(queue.ATLAS_COMPUTE, args, queue=settings.SAM_ATLAS_QUEUE)


def atlas_compute(*, embedding_ids: Sequence[int], force: bool = False) -> dict[str, list[int]]:
    """Compute and store the atlases of ready rows from their stored embeddings (CPU path, the
    management command). Rows that have one already are skipped unless `force`.

    Returns the ids by outcome: `ready`, `failed` (atlas_error says why), `skipped`."""
    outcome: dict[str, list[int]] = {"ready": [], "failed": [], "skipped": []}
    rows = Embedding.objects.filter(pk__in=list(embedding_ids), status=Embedding.Status.READY)
    if not force:
        rows = rows.filter(atlas="")
    rows = rows.select_related("image", "sam_model").order_by("id")
    found = {row.pk for row in rows}
    outcome["skipped"] = [pk for pk in embedding_ids if pk not in found]
    with _threads(settings.SAM_ATLAS_THREADS):
        for row in rows:
            _compute_one(row, outcome)
    return outcome


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """Torch's CPU threads limited to `count` (0: unchanged) while an atlas is computed, and
    restored after, for a worker that also takes embeddings."""
    if count <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _compute_one(row: Embedding, outcome: dict[str, list[int]]) -> None:
    try:
        segmenter, _ = sam_models.sam_model_load(sam_model=row.sam_model)
        with row.file.open("rb") as f:
            features = segmenter.decode(f.read())
        started = time.perf_counter()
        [atlas] = _atlases(segmenter, [features], [(row.image.height, row.image.width)])
        stored = atlas_store(
            row=row, atlas=atlas, seconds=time.perf_counter() - started, embedding_sha256=row.sha256
        )
    except Exception as exc:  # noqa: BLE001 - recorded on the row; the page hovers without it
        _record_error(row, f"{type(exc).__name__}: {exc}")
        outcome["failed"].append(row.pk)
        log.exception("hover atlas of embedding %s failed", row.pk)
        return
    outcome["ready" if stored else "skipped"].append(row.pk)


def atlas_compute_batch(
    *, segmenter: Any, features: Sequence[Any], rows: Sequence[Embedding]
) -> int:
    """Atlases of a batch just embedded on CUDA (`features[k]`: rows[k]'s features as the
    segmenter's `decode` gives them; SAM 1 decodes all the batch's grid points together).
    Returns how many were stored; failures are recorded on the rows and never fail the
    embeddings."""
    if not rows:
        return 0
    fresh = {
        r.pk: r.sha256
        for r in Embedding.objects.filter(pk__in=[r.pk for r in rows], status="ready")
    }
    started = time.perf_counter()
    try:
        atlases = _atlases(segmenter, features, [(r.image.height, r.image.width) for r in rows])
    except Exception as exc:  # noqa: BLE001 - the embeddings are stored; only the atlas is lost
        for row in rows:
            _record_error(row, f"{type(exc).__name__}: {exc}")
        log.exception("hover atlases of embeddings %s failed", [r.pk for r in rows])
        return 0
    seconds = (time.perf_counter() - started) / len(rows)
    stored = 0
    for row, atlas in zip(rows, atlases, strict=True):
        if row.pk not in fresh:
            continue
        try:
            stored += atlas_store(
                row=row, atlas=atlas, seconds=seconds, embedding_sha256=fresh[row.pk]
            )
        except STORAGE_ERRORS as exc:
            _record_error(row, f"storage failed: {exc}")
    return stored


def _atlases(segmenter: Any, features: Sequence[Any], sizes: list[tuple[int, int]]) -> list[Any]:
    grid = atlas_grid(device_type=segmenter.device.type)
    atlases: list[Any] = segmenter.atlases(features, sizes, grid=grid, mask_size=ATLAS_MASK_SIZE)
    return atlases


def atlas_store(*, row: Embedding, atlas: Any, seconds: float, embedding_sha256: str) -> bool:
    """Encode and store the atlas beside the embedding, if the row still holds the embedding it
    was computed from; False (and the file removed) when that embedding was replaced."""
    data = atlas_format.encode_atlas(
        atlas, model_key=wire.model_key_from_sha256(row.sam_model.sha256)
    )
    # Read back before anyone is served it: what the page gets is always a valid atlas.
    atlas_format.decode_atlas(data)
    storage = row.atlas.storage
    field = row.atlas.field
    old = Embedding.objects.filter(pk=row.pk).values_list("atlas", flat=True).first()
    name = storage.save(
        field.generate_filename(row, f"{row.image_id}.sama"),
        ContentFile(data),
        max_length=field.max_length,
    )
    updated = Embedding.objects.filter(
        pk=row.pk, status=Embedding.Status.READY, sha256=embedding_sha256
    ).update(
        atlas=name,
        atlas_sha256=hashlib.sha256(data).hexdigest(),
        atlas_seconds=seconds,
        atlas_error="",
    )
    if not updated:
        storage.delete(name)
        return False
    if old and old != name:
        storage.delete(old)
    return True


def _record_error(row: Embedding, error: str) -> None:
    Embedding.objects.filter(pk=row.pk).update(atlas_error=error[:4000])


def atlas_check(*, data: bytes, sam_model_sha256: str) -> atlas_format.AtlasHeader:
    """Check a stored atlas before serving it: header, model and the zlib stream's Adler-32
    (numpy and zlib only: the web process runs this). Raises Conflict (409) saying why."""
    try:
        return _checked(data, sam_model_sha256)
    except atlas_format.AtlasFormatError as exc:
        raise Conflict(
            f"The stored hover atlas is unusable ({exc}); recompute it with "
            "`manage.py embeddings --atlas --force-atlas`."
        ) from None


def _checked(data: bytes, sam_model_sha256: str) -> atlas_format.AtlasHeader:
    header = atlas_format.read_header(data, model_key=wire.model_key_from_sha256(sam_model_sha256))
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(data[atlas_format.HEADER_SIZE :], header.payload_size + 1)
    except zlib.error as exc:
        raise atlas_format.AtlasFormatError(f"corrupt atlas payload ({exc})") from None
    if len(payload) != header.payload_size or not inflater.eof:
        raise atlas_format.AtlasFormatError("atlas payload does not inflate to its stated size")
    return header
