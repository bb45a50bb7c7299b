"""The dataset page's bulk actions on everything a filter matches (assign, round-robin or to
one person; recompute embeddings; delete; export) and the images' thumbnails.

A bulk action reads the matching ids once (one index range, about 1 MB of ints at 100,000
images), then writes in chunks of BULK_CHUNK ids, all in one transaction: either every
matching image changes or none does, and a request over BULK_MAX_IMAGES is refused before
anything is written (narrow the filter). Rows added after the read are not touched.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotator import queue
from annotator.models import Embedding, Image, Job, Project
from annotator.models.images import THUMBNAIL_SIZE, thumbnail_name
from annotator.services.errors import Invalid, TooLarge, User
from annotator.services.jobs import job_create
from annotator.services.projects import files_delete

BULK_MAX_IMAGES = 100_000
# Ids per statement: far under SQLite's 32,766 bound variables and PostgreSQL's 65,535.
BULK_CHUNK = 1_000


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), BULK_CHUNK):
        yield ids[start : start + BULK_CHUNK]


def bulk_ids(*, images: QuerySet[Image]) -> list[int]:
    """The ids a bulk action works on, in upload order; TooLarge past BULK_MAX_IMAGES."""
    ids = list(images.order_by("id").values_list("id", flat=True)[: BULK_MAX_IMAGES + 1])
    if len(ids) > BULK_MAX_IMAGES:
        raise TooLarge(
            f"The filter matches more than {BULK_MAX_IMAGES:,} images; narrow it (for example by "
            "status or name) and run the action on each part."
        )
    return ids


@transaction.atomic
def images_bulk_assign(
    *, project: Project, images: QuerySet[Image], assignees: Sequence[User | None]
) -> dict[str, Any]:
    """Assign the matching images round-robin over `assignees` in upload order (the 1st, the
    k+1st, ... to the first person), or all to one (or to nobody: [None]). The caller checked
    that each assignee is a member."""
    if not assignees:
        raise Invalid("Give at least one assignee.")
    ids = bulk_ids(images=images)
    now = timezone.now()
    counts: dict[str, int] = {}
    for k, user in enumerate(assignees):
        mine = ids[k :: len(assignees)]
        for chunk in _chunks(mine):
            Image.objects.filter(project=project, pk__in=chunk).update(
                assignee=user, updated_at=now
            )
        key = str(user.pk) if user is not None else "none"
        counts[key] = counts.get(key, 0) + len(mine)
    return {"matched": len(ids), "assigned": counts}


@transaction.atomic
def images_bulk_recompute(*, project: Project, images: QuerySet[Image]) -> dict[str, Any]:
    """Embeddings of the matching images computed again under the project's model: missing
    rows created, ready and failed ones reset to pending (running ones are left to their
    worker), and the work enqueued in batches of SAM_EMBEDDING_BATCH_SIZE after the commit.
    Set-based, not embedding_request's row by row: 100,000 images are some 200 statements."""
    ids = bulk_ids(images=images)
    model = project.sam_model_id
    pending: list[int] = []
    for chunk in _chunks(ids):
        rows = Embedding.objects.filter(image_id__in=chunk, sam_model_id=model)
        have = set(rows.values_list("image_id", flat=True))
        Embedding.objects.bulk_create(
            [Embedding(image_id=pk, sam_model_id=model) for pk in chunk if pk not in have]
        )
        rows.exclude(status=Embedding.Status.RUNNING).update(
            status=Embedding.Status.PENDING, error="", error_code="", attempts=0,
            updated_at=timezone.now(),
        )  # fmt: skip
        pending += rows.filter(status=Embedding.Status.PENDING).values_list("id", flat=True)
    transaction.on_commit(lambda: _enqueue_all(pending))
    return {"matched": len(ids), "enqueued": len(pending)}


def _enqueue_all(ids: list[int]) -> None:
    """queue.embedding_enqueue for many batches: the same messages (SAM_EMBEDDING_BATCH_SIZE
    ids each), with their `queued_at` recorded in one transaction rather than one commit a
    batch (25,000 of them at 100,000 images). At the first refusal of the broker the rest stay
    pending with no queued_at, which the workers' sweep enqueues later."""
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    sent: list[int] = []
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        if not queue.send(queue.EMBEDDING_COMPUTE, [batch]):
            break
        sent += batch
    now = timezone.now()
    with transaction.atomic():
        for chunk in _chunks(sent):
            Embedding.objects.filter(pk__in=chunk, status=Embedding.Status.PENDING).update(
                queued_at=now
            )


def images_bulk_delete(*, project: Project, images: QuerySet[Image]) -> dict[str, Any]:
    """Delete the matching images with their annotations, reviews, proposals and embeddings
    in one transaction; their files (image, embedding, thumbnail) go after the commit."""
    storage = Image.file.field.storage
    with transaction.atomic():
        ids = bulk_ids(images=images)
        files: list[tuple[Any, str]] = []
        for chunk in _chunks(ids):
            rows = Image.objects.filter(project=project, pk__in=chunk)
            for name, sha in rows.values_list("file", "sha256"):
                files += [(storage, name), (storage, thumbnail_name(project.pk, sha))]
            embedded = Embedding.objects.filter(image_id__in=chunk).exclude(file="")
            files += [(storage, name) for name in embedded.values_list("file", flat=True)]
            rows.delete()
    transaction.on_commit(lambda: files_delete(files=files))
    return {"matched": len(ids), "deleted": len(ids)}


def images_bulk_export(
    *, project: Project, images: QuerySet[Image], created_by: User, params: dict[str, Any]
) -> Job:
    """An export job of the matching images (their ids, read now, in the job's params)."""
    ids = bulk_ids(images=images)
    if not ids:
        raise Invalid("The filter matches no image: nothing to export.")
    return job_create(
        project=project, kind=Job.Kind.EXPORT, created_by=created_by,
        params={**params, "image_ids": ids},
    )  # fmt: skip


def image_thumbnail(*, image: Image) -> str:
    """The stored name of the image's thumbnail (THUMBNAIL_SIZE px on its longer side, WebP),
    made on the first request and kept in the media storage beside the image."""
    storage = image.file.storage
    name = thumbnail_name(image.project_id, image.sha256)
    if storage.exists(name):
        return name
    # Image decoding is Pillow's; the web process may use it (it never imports torch).
    from PIL import Image as PILImage

    with image.file.open("rb") as handle, PILImage.open(handle) as pil:
        pil.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # JPEG: decode at a fraction
        pil.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        out = io.BytesIO()
        pil.convert("RGB").save(out, format="WEBP", quality=80)
    saved = storage.save(name, ContentFile(out.getvalue()))
    if saved != name:
        # Another request made it between the check and the save: keep theirs.
        storage.delete(saved)
    return name
