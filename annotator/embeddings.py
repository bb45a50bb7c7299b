"""Worker-side embedding computation. Imports torch (through annotator.sam) lazily: only Celery
workers on the `gpu` queue and management commands with `--sync` ever call into this module.

One call takes a batch of Embedding rows, claims them (pending -> running, a conditional
UPDATE, so two workers never compute the same row), fills the batch up with other pending rows
of the same model, runs the encoder once over the batch, stores each embedding in the wire
format of export_onnx/wire.py and records status and timing. Calling it again for a ready row
does nothing, so redelivered or duplicated tasks are harmless.

A worker that dies mid-batch (SIGKILL, OOM, a lost node) must not strand its rows in `running`.
Acknowledging late and rejecting on worker loss (settings) requeue the task only where the
broker still has it: a prefork child that dies is reported by its parent, and Redis restores an
unacknowledged message after its visibility timeout; but the folder broker deletes a message
when it hands it out, so a solo worker killed mid-task takes its task with it. The rows
themselves therefore say who holds them (`worker`, "hostname:pid") and until when
(`lease_expires_at`, renewed by a heartbeat thread while the batch runs). Every worker sweeps
(embedding_sweep: at start and every EMBEDDING_SWEEP_SECONDS) for rows whose holder is gone,
on this host by its pid and elsewhere by the lapsed lease, puts them back to pending (or fails
them once EMBEDDING_MAX_ATTEMPTS attempts were lost) and enqueues them again, along with
pending rows that no queued task covers because the broker was down when they were requested.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import close_old_connections, connection
from django.db.models import F, Q
from django.utils import timezone

from annotator import leases
from annotator.images import read_rgb
from annotator.models import Embedding, SamModel
from annotator.storage import STORAGE_ERRORS
from export_onnx import wire

log = logging.getLogger(__name__)

WIRE_DTYPE = "uint8_affine"


class PermanentError(Exception):
    """Retrying cannot help (missing or wrong checkpoint): the row fails at once."""


@functools.lru_cache(maxsize=2)
def loaded_model(checkpoint: str, model_type: str) -> tuple[Any, Path, str]:
    """The model, its checkpoint file and sha256, loaded once per worker process."""
    os.environ.setdefault("SAM_CACHE_DIR", str(settings.SAM_CACHE_DIR))
    from annotator.sam import (
        CheckpointError,
        CheckpointUnavailable,
        build_sam,
        checkpoint_sha256,
        resolve_checkpoint,
    )

    try:
        path = resolve_checkpoint(checkpoint, download=settings.SAM_ALLOW_DOWNLOAD)
        model = build_sam(path, model_type=model_type, device=settings.SAM_DEVICE or None)
    except (CheckpointUnavailable, CheckpointError) as exc:
        raise PermanentError(str(exc)) from exc
    return model, path, checkpoint_sha256(path)


def sam_model_load(*, sam_model: SamModel) -> tuple[Any, Path]:
    model, path, sha = loaded_model(sam_model.checkpoint, sam_model.model_type)
    if sam_model.sha256 != sha:
        SamModel.objects.filter(pk=sam_model.pk).update(sha256=sha)
        sam_model.sha256 = sha
    return model, path


def onnx_dir(sha256: str) -> Path:
    return Path(settings.SAM_ONNX_DIR) / sha256


def sam_model_export(*, sam_model: SamModel) -> Path:
    """Export the decoder graphs for the model into SAM_ONNX_DIR/<sha256>/ unless done already.

    The export writes into a private folder that is renamed into place, so a web process
    never serves a half-written export and two workers exporting at once both end well.
    """
    _, path = sam_model_load(sam_model=sam_model)
    target = onnx_dir(sam_model.sha256)
    if not (target / "manifest.json").is_file():
        from export_onnx.export import run_export

        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            run_export(
                path,
                tmp,
                model_type=sam_model.model_type,
                num_prompts=settings.SAM_ONNX_VERIFY_PROMPTS,
            )
            try:
                os.replace(tmp, target)
            except OSError:
                if not (target / "manifest.json").is_file():
                    raise
        except Exception as exc:
            SamModel.objects.filter(pk=sam_model.pk).update(
                onnx_status=SamModel.OnnxStatus.FAILED, onnx_error=f"{type(exc).__name__}: {exc}"
            )
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    SamModel.objects.filter(pk=sam_model.pk).update(
        onnx_status=SamModel.OnnxStatus.READY, onnx_error=""
    )
    return target


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


def embedding_sweep() -> dict[str, list[int]]:
    """Release rows lost with their worker, and enqueue every pending row that no queued task
    covers (released ones, and those requested while the broker was down)."""
    from annotator.tasks import embedding_enqueue

    released = embedding_release_lost()
    unqueued = list(
        Embedding.objects.filter(status=Embedding.Status.PENDING, queued_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    enqueued: list[int] = []
    for start in range(0, len(unqueued), size):
        batch = unqueued[start : start + size]
        if not embedding_enqueue(batch):
            break  # the broker is down: the next sweep tries again
        enqueued += batch
    return {**released, "enqueued": enqueued}


# A sweep that failed (the database restarting with the worker, say) is tried again after
# this, not after a whole EMBEDDING_SWEEP_SECONDS.
SWEEP_RETRY_SECONDS = 5.0


def sweeper_start(*, interval: float) -> threading.Thread:
    """Run embedding_sweep, and fail the jobs lost with their worker, now and every `interval`
    seconds in a daemon thread of this worker process (its own database connection; a failed
    sweep is logged and tried again)."""
    from annotator.services import job_release_lost

    def loop() -> None:
        while True:
            wait = interval
            try:
                close_old_connections()
                outcome = {**embedding_sweep(), "jobs_failed": job_release_lost()}
                if any(outcome.values()):
                    log.info("embedding sweep: %s", outcome)
            except Exception:  # noqa: BLE001 - the database may be down too; try again soon
                log.exception("embedding sweep failed")
                wait = min(interval, SWEEP_RETRY_SECONDS)
            finally:
                connection.close()
            time.sleep(wait)

    thread = threading.Thread(target=loop, name="embedding-sweep", daemon=True)
    thread.start()
    return thread


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
        model, _ = sam_model_load(sam_model=sam_model)
    except PermanentError as exc:
        for row in rows:
            _fail(row, f"model unavailable: {exc}", outcome, holder, permanent=True)
        return
    except Exception as exc:  # noqa: BLE001 - recorded on the rows, retried
        for row in rows:
            _fail(row, f"model failed to load: {type(exc).__name__}: {exc}", outcome, holder)
        return
    try:
        sam_model_export(sam_model=sam_model)
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
    from annotator.sam import embed_images

    started = time.perf_counter()
    log.info("encoding %d image(s) for embeddings %s", len(ready_rows), [r.pk for r in ready_rows])
    try:
        # Rows are claimed in batches either way; the encoder takes several images per call
        # only on CUDA, since on CPU a batch is no faster and holds every image's activations.
        per_call = settings.SAM_EMBEDDING_BATCH_SIZE if model.device.type == "cuda" else 1
        features = embed_images(model, arrays, batch_size=per_call)
    except Exception as exc:  # noqa: BLE001 - recorded on the rows, retried
        for row in ready_rows:
            _fail(row, f"encoder failed: {type(exc).__name__}: {exc}", outcome, holder)
        return
    seconds = (time.perf_counter() - started) / len(ready_rows)
    key = wire.model_key_from_sha256(sam_model.sha256)
    for index, row in enumerate(ready_rows):
        array = features[index : index + 1].float().cpu().numpy()
        try:
            stored = _store(row, array, key=key, seconds=seconds, holder=holder)
        except STORAGE_ERRORS as exc:  # a full disk, unwritable media, S3 refusing: retried
            _fail(row, f"storage failed: {exc}", outcome, holder)
            continue
        outcome["ready" if stored else "skipped"].append(row.pk)


def _store(row: Embedding, array: Any, *, key: bytes, seconds: float, holder: str) -> bool:
    """Write the file and mark the row ready, if this process still holds it; False (and the
    file removed again) when another worker took it over meanwhile."""
    data = wire.encode_embedding(
        array, model_key=key, original_size=(row.image.height, row.image.width)
    )
    storage = row.file.storage
    old = row.file.name or None
    field = row.file.field
    name = storage.save(
        field.generate_filename(row, f"{row.image_id}.same"),
        ContentFile(data),
        max_length=field.max_length,
    )
    updated = Embedding.objects.filter(
        pk=row.pk, status=Embedding.Status.RUNNING, worker=holder
    ).update(
        status=Embedding.Status.READY,
        file=name,
        dtype=WIRE_DTYPE,
        shape=list(array.shape[1:]),
        sha256=hashlib.sha256(data).hexdigest(),
        compute_seconds=seconds,
        error="",
        worker="",
        lease_expires_at=None,
        updated_at=timezone.now(),
    )
    if not updated:
        storage.delete(name)
        log.warning("embedding %s was taken over by another worker; result dropped", row.pk)
        return False
    if old and old != name:
        storage.delete(old)
    return True


def _fail(
    row: Embedding,
    error: str,
    outcome: dict[str, list[int]],
    holder: str,
    *,
    permanent: bool = False,
) -> None:
    final = permanent or row.attempts >= settings.EMBEDDING_MAX_ATTEMPTS
    status = Embedding.Status.FAILED if final else Embedding.Status.PENDING
    # queued_at is cleared: the caller enqueues the retry, or the sweep does if that fails.
    Embedding.objects.filter(pk=row.pk, status=Embedding.Status.RUNNING, worker=holder).update(
        status=status, error=error[:4000], worker="", lease_expires_at=None, queued_at=None
    )
    outcome["failed" if final else "retry"].append(row.pk)
    log.warning("embedding %s of image %s: %s", row.pk, row.image_id, error)


# Everything mode defaults for a CPU worker: a 16x16 grid instead of SAM's 32x32 (4x fewer
# decoder calls); any parameter of SamAutomaticMaskGenerator can be given in the job's params.
EVERYTHING_DEFAULTS: dict[str, Any] = {"points_per_side": 16, "points_per_batch": 64}
EVERYTHING_PARAMS = {
    "points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
    "box_nms_thresh", "min_mask_region_area", "crop_n_layers",
}  # fmt: skip


def everything_run(*, job: Any) -> None:
    """Everything mode: SAM's automatic mask generator over the job's images; every mask
    becomes an annotation (source `auto`, score = predicted IoU) with the job's label."""
    from annotator import services
    from annotator.models import Label
    from annotator.sam import SamAutomaticMaskGenerator

    model, _ = sam_model_load(sam_model=job.project.sam_model)
    options = {**EVERYTHING_DEFAULTS}
    options.update({k: v for k, v in job.params.items() if k in EVERYTHING_PARAMS})
    generator = SamAutomaticMaskGenerator(model, output_mode="binary_mask", **options)
    label = Label.objects.get(project=job.project, pk=job.params["label"])
    images = list(services.job_images(job=job))
    services.job_progress(job=job, done=0, total=len(images))
    for done, image in enumerate(images, start=1):
        with image.file.open("rb") as f:
            records = generator.generate(read_rgb(f.read()))
        for record in records:
            try:
                services.annotation_create(
                    image=image,
                    label=label,
                    created_by=job.created_by,
                    rle=_rle(record["segmentation"]),
                    source="auto",
                    score=float(record["predicted_iou"]),
                    prompts={"mode": "everything", "point_coords": record["point_coords"]},
                )
            except services.ServiceError as exc:  # an empty mask, a locked image: skip it
                log.info("everything mode skipped a mask on image %s: %s", image.pk, exc)
        services.job_progress(job=job, done=done, total=len(images))


def _rle(mask: Any) -> dict[str, Any]:
    from annotator.geometry import mask_to_rle

    return mask_to_rle(mask)


def auto_annotate_run(*, job: Any) -> None:
    """Box prompts -> SAM masks -> annotations (source `auto`), for the job's images. Boxes come
    inline or from a configured detector (see services._check_auto_annotate_params); all boxes
    of an image go through the decoder in one batched call. A ready stored embedding is used
    instead of encoding the image again."""
    from annotator import services
    from annotator.autoannotate.run import segment_boxes
    from annotator.sam import SamPredictor

    params = job.params
    model, _ = sam_model_load(sam_model=job.project.sam_model)
    predictor = SamPredictor(model)
    detector = None
    if params.get("detector"):
        from annotator.autoannotate.detectors import build_detector

        detector = build_detector(
            settings.AUTO_ANNOTATE_DETECTORS[params["detector"]],
            conf=float(params.get("conf", 0.25)),
            device=settings.SAM_DEVICE,
        )
    labels = {label.pk: label for label in job.project.labels.all()}
    class_labels = {int(k): v for k, v in params.get("class_labels", {}).items()}
    images = list(services.job_images(job=job))
    services.job_progress(job=job, done=0, total=len(images))
    for done, image in enumerate(images, start=1):
        with image.file.open("rb") as f:
            rgb = read_rgb(f.read())
        if detector is not None:
            found = detector.detect(rgb, name=image.original_name)
            prompts = [
                (list(d.box_xyxy), class_labels.get(d.class_id, params.get("label")), d.score)
                for d in found
            ]
        else:
            boxes = params["boxes"].get(str(image.pk), [])
            prompts = [(box, params["label"], None) for box in boxes]
        prompts = [p for p in prompts if p[1] in labels]
        if prompts:
            _set_image(predictor, image, rgb)
            masks = segment_boxes(predictor, np.array([p[0] for p in prompts], np.float32))
            for (box, label_id, score), mask in zip(prompts, masks, strict=True):
                try:
                    services.annotation_create(
                        image=image,
                        label=labels[label_id],
                        created_by=job.created_by,
                        rle=_rle(mask),
                        source="auto",
                        score=score,
                        prompts={"mode": "auto_annotate", "box": [float(v) for v in box]},
                    )
                except services.ServiceError as exc:  # an empty mask, a locked image: skip it
                    log.info("auto-annotation skipped a box on image %s: %s", image.pk, exc)
        services.job_progress(job=job, done=done, total=len(images))


def _set_image(predictor: Any, image: Any, rgb: Any) -> None:
    row = Embedding.objects.filter(
        image=image, sam_model_id=image.project.sam_model_id, status=Embedding.Status.READY
    ).first()
    if row is None:
        predictor.set_image(rgb)
        return
    with row.file.open("rb") as f:
        embedding, _ = wire.decode_embedding(f.read())
    predictor.set_image_embedding(embedding, (image.height, image.width))
