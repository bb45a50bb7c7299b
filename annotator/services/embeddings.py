"""Embeddings: requested by the web process (a row per image and model, enqueued on commit) and
computed by workers. The computing half imports torch (through annotator.sam) inside
_compute_batch: only Celery workers on the `gpu` queue and `embeddings --sync` get that far.

One call takes a batch of Embedding rows, claims them (pending -> running, a conditional
UPDATE, so two workers never compute the same row), fills the batch up with other pending rows
of the same model, runs the encoder once over the batch, stores each embedding in the wire
format of its model family (export_onnx/wire.py for SAM 1, wire2.py for SAM 2, through
annotator.segmenters) and records status and timing. Calling it again for a ready row
does nothing, so redelivered or duplicated tasks are harmless.

A worker that dies mid-batch (SIGKILL, OOM, a lost node) must not strand its rows in `running`.
Acknowledging late and rejecting on worker loss (settings) requeue the task only where the
broker still has it: a prefork child that dies is reported by its parent, and Redis restores an
unacknowledged message after its visibility timeout; but the folder broker deletes a message
when it hands it out, so a solo worker killed mid-task takes its task with it. The rows
themselves therefore say who holds them (`worker`, "hostname:pid") and until when
(`lease_expires_at`, renewed by a heartbeat thread while the batch runs). Every worker sweeps
(services/embedding_sweep.py, run by annotator.worker at start and every EMBEDDING_SWEEP_SECONDS) for rows
whose holder is gone, on this host by its pid and elsewhere by the lapsed lease, puts them back
to pending (or fails them once EMBEDDING_MAX_ATTEMPTS attempts were lost) and enqueues them
again, along with pending rows that no queued task covers because the broker was down when
they were requested.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotator import leases, precompressed, queue
from annotator.images import read_rgb
from annotator.models import Embedding, Image, SamModel
from annotator.services import atlases, sam_models
from annotator.services.errors import Unavailable
from annotator.storage import STORAGE_ERRORS
from export_onnx import wire

log = logging.getLogger(__name__)

# Embedding.dtype of SAM 1 rows (a SAM 2 row says "sam2_codebook": annotator.segmenters).
WIRE_DTYPE = "uint8_affine"

# Embedding.error_code of rows that failed because the checkpoint was missing; the sweep
# (services/embedding_sweep.py) puts them back to pending once a worker can find it.
MODEL_UNAVAILABLE = "model_unavailable"

# Re-exported for views: publishing is the queue's, the rows are the embeddings'.
embedding_enqueue = queue.embedding_enqueue


def embedding_request(
    *, images: Sequence[Image], force: bool = False, enqueue: bool = True
) -> list[Embedding]:
    """Make sure each image has an embedding row for its project's model, and enqueue the work
    when the transaction commits (`enqueue=False`: the caller enqueues the returned rows, to
    learn whether the broker took them). Ready rows are left alone unless `force`; failed rows
    are reset to pending (a manual retry)."""
    rows: list[Embedding] = []
    if force:
        # An explicit recompute also retries a failed decoder export of the same models.
        SamModel.objects.filter(
            pk__in={image.project.sam_model_id for image in images},
            onnx_status=SamModel.OnnxStatus.FAILED,
        ).update(onnx_status=SamModel.OnnxStatus.PENDING)
    for image in images:
        row, created = Embedding.objects.get_or_create(
            image=image, sam_model_id=image.project.sam_model_id
        )
        if not created and (force or row.status == Embedding.Status.FAILED):
            row.status = Embedding.Status.PENDING
            row.error = ""
            row.error_code = ""
            row.attempts = 0
            row.save(update_fields=["status", "error", "error_code", "attempts", "updated_at"])
        if row.status == Embedding.Status.PENDING:
            rows.append(row)
    ids = [row.pk for row in rows]
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids) if enqueue else 0, size):
        batch = ids[start : start + size]
        # A broker outage does not undo the upload: the rows stay pending and unqueued, and
        # the workers' sweep or the next request of the embedding enqueues them.
        transaction.on_commit(lambda batch=batch: queue.embedding_enqueue(batch))
    return rows


def embedding_compute_pending(*, limit: int | None = None, sync: bool = False) -> int:
    """Re-enqueue (or, with `sync`, compute in this process) every pending embedding.

    For management commands and the demo: after a restart, or when uploads happened while no
    worker ran, this sweeps what is left. `sync=True` loads the model here (imports torch).
    """
    ids = list(
        Embedding.objects.filter(status=Embedding.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        if sync:
            embedding_compute(embedding_ids=batch)
        elif not queue.embedding_enqueue(batch):
            raise Unavailable("The task queue (Celery broker) is unavailable; try again later.")
    return len(ids)


def _lost_rows(ids: list[int] | None = None) -> list[Embedding]:
    """Running rows whose holder is gone: dead on this host, or silent past its lease."""
    running = Embedding.objects.filter(status=Embedding.Status.RUNNING)
    if ids is not None:
        running = running.filter(pk__in=ids)
    stale = timezone.now() - timedelta(seconds=settings.EMBEDDING_LEASE_SECONDS)
    return leases.lost(running, unleased=Q(updated_at__lt=stale))


def embedding_release_lost(*, ids: list[int] | None = None) -> dict[str, list[int]]:
    """Take back running rows whose worker is gone: pending again (to be enqueued), or failed
    when the lost attempt was the last one allowed (a row whose image kills the worker every
    time must stop somewhere). Conditional on the holder, so two sweepers never both act."""
    released: dict[str, list[int]] = {"pending": [], "failed": []}
    for row in _lost_rows(ids):
        final = row.attempts >= settings.EMBEDDING_MAX_ATTEMPTS
        holder = row.worker or "an unknown worker"
        error = f"the worker computing it ({holder}) stopped mid-batch (attempt {row.attempts})"
        if final:
            error = f"gave up after {row.attempts} attempt(s): {error}"
        status = Embedding.Status.FAILED if final else Embedding.Status.PENDING
        changed = Embedding.objects.filter(
            pk=row.pk, status=Embedding.Status.RUNNING, worker=row.worker
        ).update(status=status, worker="", lease_expires_at=None, queued_at=None, error=error)
        if changed:
            released["failed" if final else "pending"].append(row.pk)
            log.warning("embedding %s of image %s: %s", row.pk, row.image_id, error)
    return released


def _claim(ids: list[int], holder: str) -> list[Embedding]:
    claimable = Q(status=Embedding.Status.PENDING)
    claimed = []
    for pk in ids:
        if (
            Embedding.objects.filter(claimable, pk=pk).update(
                status=Embedding.Status.RUNNING,
                attempts=F("attempts") + 1,
                worker=holder,
                lease_expires_at=leases.lease_end(),
                updated_at=timezone.now(),
            )
            == 1
        ):
            claimed.append(pk)
    return list(
        Embedding.objects.filter(pk__in=claimed).select_related("image", "sam_model").order_by("id")
    )


def _fill_batch(ids: list[int]) -> list[int]:
    """The given ids plus other pending rows of the same models, up to one batch per model."""
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    model_ids = set(Embedding.objects.filter(pk__in=ids).values_list("sam_model_id", flat=True))
    extra: list[int] = []
    for model_id in model_ids:
        room = max(0, size - len(ids))
        extra += list(
            Embedding.objects.filter(status=Embedding.Status.PENDING, sam_model_id=model_id)
            .exclude(pk__in=ids)
            .order_by("id")
            .values_list("id", flat=True)[:room]
        )
    return list(ids) + extra


def embedding_compute(*, embedding_ids: list[int]) -> dict[str, list[int]]:
    """Compute the given embeddings (and other pending ones, up to a batch).

    Returns the ids by outcome: `ready`, `failed` (for good), `retry` (failed this time, to be
    tried again by the caller) and `skipped` (not claimable: done already, or another worker's).
    """
    # A redelivered task (its prefork child was killed) finds its rows still held by the dead
    # process: take them back first, or they would wait for the lease to run out.
    embedding_release_lost(ids=list(embedding_ids))
    holder = leases.holder_id()
    rows = _claim(_fill_batch(list(embedding_ids)), holder)
    outcome: dict[str, list[int]] = {"ready": [], "failed": [], "retry": [], "skipped": []}
    claimed = {row.pk for row in rows}
    outcome["skipped"] = [pk for pk in embedding_ids if pk not in claimed]
    by_model: dict[int, list[Embedding]] = {}
    for row in rows:
        by_model.setdefault(row.sam_model_id, []).append(row)
    with leases.heartbeat(Embedding, sorted(claimed), holder):
        for batch in by_model.values():
            try:
                _compute_batch(batch, outcome, holder)
            except Exception as exc:  # noqa: BLE001 - no row may stay running after a bug
                done = {pk for pks in outcome.values() for pk in pks}
                for row in batch:
                    if row.pk not in done:
                        _fail(row, f"{type(exc).__name__}: {exc}", outcome, holder)
                log.exception("embedding batch %s failed", [row.pk for row in batch])
    return outcome


def _compute_batch(rows: list[Embedding], outcome: dict[str, list[int]], holder: str) -> None:
    sam_model = rows[0].sam_model
    try:
        segmenter, _ = sam_models.sam_model_load(sam_model=sam_model)
    except sam_models.PermanentError as exc:
        code = MODEL_UNAVAILABLE if isinstance(exc, sam_models.ModelUnavailable) else ""
        for row in rows:
            _fail(row, f"model unavailable: {exc}", outcome, holder, permanent=True, code=code)
        return
    except Exception as exc:  # noqa: BLE001 - recorded on the rows, retried
        for row in rows:
            _fail(row, f"model failed to load: {type(exc).__name__}: {exc}", outcome, holder)
        return
    try:
        sam_models.sam_model_export(sam_model=sam_model)
    except Exception:  # noqa: BLE001 - recorded on the SamModel row; embeddings still useful
        log.exception("ONNX export of %s failed", sam_model)

    arrays, ready_rows = [], []
    for row in rows:
        try:
            with row.image.file.open("rb") as f:
                arrays.append(read_rgb(f.read()))
            ready_rows.append(row)
        except Exception as exc:  # noqa: BLE001 - one unreadable image must not sink the batch
            _fail(row, f"image unreadable: {type(exc).__name__}: {exc}", outcome, holder)
    if not ready_rows:
        return

    started = time.perf_counter()
    log.info("encoding %d image(s) for embeddings %s", len(ready_rows), [r.pk for r in ready_rows])
    try:
        # Rows are claimed in batches either way; the encoder takes several images per call
        # only on CUDA, since on CPU a batch is no faster and holds every image's activations.
        # The segmenter writes its family's wire format (SAM 1: export_onnx/wire.py, SAM 2:
        # export_onnx/wire2.py), each stamped with the checkpoint's model key.
        per_call = settings.SAM_EMBEDDING_BATCH_SIZE if segmenter.device.type == "cuda" else 1
        key = wire.model_key_from_sha256(sam_model.sha256)
        encoded = segmenter.embed(arrays, batch_size=per_call, model_key=key)
    except Exception as exc:  # noqa: BLE001 - recorded on the rows, retried
        for row in ready_rows:
            _fail(row, f"encoder failed: {type(exc).__name__}: {exc}", outcome, holder)
        return
    seconds = (time.perf_counter() - started) / len(ready_rows)
    stored_rows = []
    for index, (row, data) in enumerate(zip(ready_rows, encoded, strict=True)):
        try:
            stored = _store(
                row, data, dtype=segmenter.wire_dtype, shape=list(segmenter.wire_shape),
                seconds=seconds, holder=holder,
            )  # fmt: skip
        except STORAGE_ERRORS as exc:  # a full disk, unwritable media, S3 refusing: retried
            _fail(row, f"storage failed: {exc}", outcome, holder)
            continue
        outcome["ready" if stored else "skipped"].append(row.pk)
        if stored:
            stored_rows.append((index, row))
    # The hover atlas, after the rows are ready (the page can start on the embedding): on CUDA
    # in this batch; on CPU a follow-up task, so the `gpu` queue's next embeddings do not wait
    # behind a thousand decoder calls. The CUDA batch decodes the stored bytes back: the atlas
    # then comes from the same features the page and the CPU path use.
    if not stored_rows:
        return
    if segmenter.device.type == "cuda":
        picked = [segmenter.decode(encoded[i]) for i, _ in stored_rows]
        rows_done = [r for _, r in stored_rows]
        atlases.atlas_compute_batch(segmenter=segmenter, features=picked, rows=rows_done)
    else:
        atlases.atlas_enqueue(embedding_ids=[row.pk for _, row in stored_rows])


def _store(
    row: Embedding, data: bytes, *, dtype: str, shape: list[int], seconds: float, holder: str
) -> bool:
    """Write the file and mark the row ready, if this process still holds it; False (and the
    file removed again) when another worker took it over meanwhile."""
    storage = row.file.storage
    old = row.file.name or None
    old_atlas = row.atlas.name or None
    field = row.file.field
    name = storage.save(
        field.generate_filename(row, f"{row.image_id}.same"),
        ContentFile(data),
        max_length=field.max_length,
    )
    # The gzipped twin is only an encoding of the same bytes: when it cannot be written (a full
    # disk), the embedding is stored and served plain rather than failed.
    try:
        precompressed.save_gzip(storage=storage, name=name, data=data)
    except STORAGE_ERRORS as exc:
        precompressed.delete_gzip(storage=storage, name=name)
        log.warning("gzip twin of embedding %s not stored (%s); served plain", row.pk, exc)
    updated = Embedding.objects.filter(
        pk=row.pk, status=Embedding.Status.RUNNING, worker=holder
    ).update(
        status=Embedding.Status.READY,
        file=name,
        dtype=dtype,
        shape=shape,
        sha256=hashlib.sha256(data).hexdigest(),
        compute_seconds=seconds,
        # The atlas belongs to the embedding it was computed from: a new one gets a new atlas.
        atlas="",
        atlas_sha256="",
        atlas_seconds=None,
        atlas_error="",
        error="",
        error_code="",
        worker="",
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if not updated:
        precompressed.delete(storage=storage, name=name)
        log.warning("embedding %s was taken over by another worker; result dropped", row.pk)
        return False
    if old and old != name:
        precompressed.delete(storage=storage, name=old)
    if old_atlas:
        storage.delete(old_atlas)
    return True


def _fail(
    row: Embedding,
    error: str,
    outcome: dict[str, list[int]],
    holder: str,
    *,
    permanent: bool = False,
    code: str = "",
) -> None:
    final = permanent or row.attempts >= settings.EMBEDDING_MAX_ATTEMPTS
    status = Embedding.Status.FAILED if final else Embedding.Status.PENDING
    # queued_at is cleared: the caller enqueues the retry, or the sweep does if that fails.
    Embedding.objects.filter(pk=row.pk, status=Embedding.Status.RUNNING, worker=holder).update(
        status=status,
        error=error[:4000],
        error_code=code,
        worker="",
        lease_expires_at=None,
        queued_at=None,
    )
    outcome["failed" if final else "retry"].append(row.pk)
    log.warning("embedding %s of image %s: %s", row.pk, row.image_id, error)


def embedding_retry_later(*, ids: list[int]) -> bool:
    """Enqueue rows that failed this time, after a delay that doubles with each attempt (the
    attempts are counted per row, up to EMBEDDING_MAX_ATTEMPTS)."""
    rows = Embedding.objects.filter(pk__in=ids)
    attempts = max(rows.values_list("attempts", flat=True), default=1)
    countdown = settings.EMBEDDING_RETRY_DELAY * 2 ** (max(attempts, 1) - 1)
    return queue.embedding_enqueue(ids, countdown=countdown)
