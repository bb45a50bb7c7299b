"""Work done by the workers: image embeddings and jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotator.models.images import Image
from annotator.models.projects import Project, SamModel


def embedding_upload_to(instance: Embedding, filename: str) -> str:
    return f"embeddings/{instance.sam_model_id}/{filename}"


class Embedding(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="embeddings")
    sam_model = models.ForeignKey(SamModel, on_delete=models.CASCADE, related_name="embeddings")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Wire format of export_onnx/wire.py: "uint8_affine" codes of a (256, 64, 64) embedding.
    dtype = models.CharField(max_length=32, blank=True)
    shape = models.JSONField(default=list, blank=True)
    file = models.FileField(upload_to=embedding_upload_to, blank=True, max_length=500)
    sha256 = models.CharField(max_length=64, blank=True, help_text="of the file, used as ETag")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Why a failed row failed, when a machine can tell: "model_unavailable" (the checkpoint
    # was not there yet) is retried by the workers' sweep once the checkpoint can be found.
    error_code = models.CharField(max_length=32, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)
    # The hover atlas (export_onnx/atlas_format.py) of this embedding: computed right after it by
    # the same worker (CUDA, same batch) or by a follow-up task on the atlas queue (CPU), and
    # dropped whenever the embedding is recomputed. Empty until then: the page hovers with exact
    # decodes only.
    atlas = models.FileField(upload_to=embedding_upload_to, blank=True, max_length=500)
    atlas_sha256 = models.CharField(max_length=64, blank=True)
    atlas_seconds = models.FloatField(null=True, blank=True)
    atlas_error = models.TextField(blank=True)
    # When a compute task for the row was last handed to the broker. Null while pending means
    # no task is known to be queued (the broker was down): the worker's sweep or the next GET
    # enqueues one, so an outage never strands a row.
    queued_at = models.DateTimeField(null=True, blank=True)
    # The worker process holding a running row ("hostname:pid") and how long its hold lasts
    # without renewal; a heartbeat renews it while the batch runs. A row whose holder died
    # (SIGKILL, OOM, lost node) is taken back once the lease runs out, or at once on the same
    # host when that pid is gone (see annotator.leases and annotator.services.embeddings).
    worker = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["image", "sam_model"], name="embedding_unique_model")
        ]
        # Workers pick pending rows in batches.
        indexes = [
            models.Index(fields=["status"], condition=Q(status="pending"), name="emb_pending")
        ]

    def __str__(self) -> str:
        return f"embedding of {self.image_id} ({self.status})"


def job_upload_to(instance: Job, filename: str) -> str:
    return f"projects/{instance.project_id}/jobs/{instance.pk}/{filename}"


class Job(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export", "Export"
        AUTO_ANNOTATE = "auto_annotate", "Auto-annotation"
        EVERYTHING = "everything", "Everything mode"
        TEXT = "text", "Text prompts"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.FileField(upload_to=job_upload_to, blank=True, max_length=500)
    error = models.TextField(blank=True)
    # What a job found, for a page to say so without listing it (text prompts: instances per
    # phrase); written by the runner as it goes, separate from `params`, which the caller gave.
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker process running it ("hostname:pid") and until when its heartbeat vouches for it
    # (annotator.leases): a job whose worker died is failed by the workers' sweep instead of
    # staying running forever.
    worker = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Images the job left alone because a person's work holds them (accepted, submitted, locked
    # by someone else: services/review.image_write_refusal), each {"image", "name", "reason"}:
    # a job never writes past the review rules, and never skips silently either.
    skipped = models.JSONField(default=list, blank=True)
    # Set by a cancel while the job runs; its worker reads it from the row between images
    # (services/jobs.py), so a cancel from any web process reaches a worker on any host.
    cancel_requested = models.BooleanField(default=False)
    # A retry is a new row (the failed one keeps its error and its place in the history).
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"
