"""The embeddings' sweep, run by every worker (annotator.worker) at start and every
EMBEDDING_SWEEP_SECONDS: rows whose worker died go back to pending (or fail after
EMBEDDING_MAX_ATTEMPTS lost attempts), rows that failed for a missing checkpoint resume once it
is there, and pending rows no queued task covers are enqueued (services/embeddings.py says why
rows carry their holder and lease)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from annotator import queue
from annotator.models import Embedding, SamModel
from annotator.services import sam_models
from annotator.services.embeddings import MODEL_UNAVAILABLE, embedding_release_lost

log = logging.getLogger(__name__)

# Rows resumed per sweep once their checkpoint is found.
UNAVAILABLE_RETRIES_PER_SWEEP = 256


def embedding_sweep() -> dict[str, list[int]]:
    """Release rows lost with their worker, and enqueue every pending row that no queued task
    covers (released ones, and those requested while the broker was down)."""
    released = embedding_release_lost()
    resumed = embedding_resume_unavailable()
    unqueued = list(
        Embedding.objects.filter(status=Embedding.Status.PENDING, queued_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    enqueued: list[int] = []
    for start in range(0, len(unqueued), size):
        batch = unqueued[start : start + size]
        if not queue.embedding_enqueue(batch):
            break  # the broker is down: the next sweep tries again
        enqueued += batch
    return {**released, "resumed": resumed, "enqueued": enqueued}


def embedding_resume_unavailable() -> list[int]:
    """Rows that failed because their checkpoint was missing go back to pending (and are
    enqueued by the sweep) once this worker can find the checkpoint: putting the file in place
    resumes the work, instead of a manual retry per image. Bounded per sweep; a row whose
    checkpoint then turns out unloadable fails with another code and stays failed."""
    failed = Embedding.objects.filter(status=Embedding.Status.FAILED, error_code=MODEL_UNAVAILABLE)
    resumed: list[int] = []
    for sam_model in SamModel.objects.filter(
        pk__in=failed.values("sam_model_id").distinct()
    ).order_by("id"):
        room = UNAVAILABLE_RETRIES_PER_SWEEP - len(resumed)
        if room <= 0:
            break
        if not sam_models.sam_model_available(sam_model=sam_model):
            continue
        ids = list(
            failed.filter(sam_model=sam_model).order_by("id").values_list("id", flat=True)[:room]
        )
        Embedding.objects.filter(
            pk__in=ids, status=Embedding.Status.FAILED, error_code=MODEL_UNAVAILABLE
        ).update(
            status=Embedding.Status.PENDING,
            error="",
            error_code="",
            attempts=0,
            queued_at=None,
            updated_at=timezone.now(),
        )
        resumed += ids
        log.info("checkpoint of %s is available now: resuming embeddings %s", sam_model, ids)
    return resumed
