"""The annotation data model. Rows are written only through annotator.services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Q


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    VIEWER = "viewer", "Viewer"


class SamModel(models.Model):
    """One SAM checkpoint that projects use, as configured (a known name or a path).

    The web process never opens the checkpoint: the worker fills in `sha256` the first time it
    loads the model, and exports the ONNX decoder once, into the media storage (see
    annotator/services/decoder_files.py; SAM_ONNX_DIR is only each host's cache).
    """

    class OnnxStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    checkpoint = models.CharField(max_length=500, unique=True)
    model_type = models.CharField(max_length=32, default="auto")
    # Blank until a worker has resolved and hashed the checkpoint file.
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    onnx_status = models.CharField(
        max_length=16, choices=OnnxStatus.choices, default=OnnxStatus.PENDING
    )
    onnx_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.checkpoint} ({self.sha256[:12] or 'unresolved'})"


# Bounds on what a project carries, so one request cannot store megabytes or run thousands of
# inserts (LVIS, among the largest vocabularies, has 1203 categories). One home for each: the
# API's serializers and the services (annotation imports included) check the same numbers.
MAX_DESCRIPTION = 100_000
MAX_LABELS = 2_000


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    sam_model = models.ForeignKey(SamModel, on_delete=models.PROTECT, related_name="projects")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Whether a reviewer may accept or reject an image they submitted themselves (a team of one
    # needs it; elsewhere a second pair of eyes is the point of the review).
    allow_self_review = models.BooleanField(default=False)
    members = models.ManyToManyField(  # type: ignore[var-annotated]
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class Label(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#ff0000", help_text="#rrggbb")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class NameKey(Func):
    """An image's name as the dataset page sorts and prefix-searches it: lower-cased, compared
    byte by byte. PostgreSQL gets the "C" collation so that a range over the index is a prefix
    (a locale's collation orders "a-b" and "ab" by other rules); SQLite's default collation
    (BINARY) already compares that way, and its LOWER() folds ASCII letters only."""

    function = "LOWER"
    output_field = models.CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = self.as_sql(compiler, connection, **extra)
        return f'({sql}) COLLATE "C"', params


def _image_index(*keys: Any, name: str) -> models.Index:
    # Every list request is one project's images in one order with the id as the tie-breaker,
    # so each index is (project, [filter], sort key, id): a page, deep or not, is one range scan.
    return models.Index(F("project"), *keys, F("id"), name=name)


def image_upload_to(instance: Image, filename: str) -> str:
    return f"projects/{instance.project_id}/images/{filename}"


class Image(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    # The normalised image (8-bit RGB, EXIF orientation applied): what the browser shows and
    # what the model embeds, so polygons are in the pixels of this file.
    file = models.FileField(upload_to=image_upload_to, max_length=500)
    original_name = models.CharField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # Bytes of the stored file, which QUOTA_PROJECT_BYTES sums (asking the storage for every
    # file's size would be one request per image on S3).
    file_size = models.BigIntegerField(default=0)
    # Of the uploaded bytes, so re-uploading the same file is recognised before decoding.
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_images",
    )
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked_until = models.DateTimeField(null=True, blank=True)
    # The last review decision's comment (why it was rejected, usually) and who made it.
    review_comment = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="image_unique_sha256")
        ]
        # The dataset page's list (selectors.image_list): one index per sort, and per sort
        # under the two filters that are columns of this table (status, assignee). The label,
        # embedding and name filters are checked row by row along the sort's index, or use
        # the name index's range (search is a prefix of NameKey).
        indexes = [
            _image_index(name="img_id"),
            _image_index(NameKey("original_name"), name="img_name"),
            _image_index(F("status"), name="img_status"),
            _image_index(F("updated_at"), name="img_updated"),
            _image_index(F("status"), NameKey("original_name"), name="img_status_name"),
            _image_index(F("status"), F("updated_at"), name="img_status_updated"),
            _image_index(F("assignee"), name="img_assignee"),
            _image_index(F("assignee"), NameKey("original_name"), name="img_assignee_name"),
            _image_index(F("assignee"), F("status"), name="img_assignee_status"),
            _image_index(F("assignee"), F("updated_at"), name="img_assignee_updated"),
        ]

    def __str__(self) -> str:
        return self.original_name


class Annotation(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        SAM = "sam", "SAM"
        AUTO = "auto", "Automatic"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="annotations")
    # [{"outer": [[x, y], ...], "holes": [[[x, y], ...], ...]}, ...] in original pixels.
    polygons = models.JSONField()
    # COCO RLE {"size": [h, w], "counts": str} of the same mask.
    rle = models.JSONField()
    bbox = models.JSONField(help_text="[x, y, w, h] in pixels")
    area = models.FloatField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    score = models.FloatField(null=True, blank=True)
    prompts = models.JSONField(default=dict, blank=True)
    # Optimistic concurrency: an update names the version it read; a stale one gets 409.
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        # The image list's "has this label" filter asks, per image, for one annotation of a label.
        indexes = [models.Index(fields=["image", "label"], name="ann_image_label")]

    def __str__(self) -> str:
        return f"{self.label} on {self.image_id}"


class ReviewEvent(models.Model):
    """One step of an image's review workflow (annotator/services/review.py): who moved it from
    which status to which, when, with what comment. Never updated: the history of decisions."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_events")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16)  # start, submit, accept, reject, reopen
    from_status = models.CharField(max_length=16, choices=Image.Status.choices)
    to_status = models.CharField(max_length=16, choices=Image.Status.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} of image {self.image_id} by {self.user_id}"


class ReviewIssue(models.Model):
    """A reviewer's remark pinned to a point of the image or to one annotation ("this edge
    leaks into the background"), open until the annotator resolves it."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="review_issues")
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_issues"
    )
    # In the image's pixels; null when the issue names an annotation only.
    x = models.FloatField(null=True, blank=True)
    y = models.FloatField(null=True, blank=True)
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"issue {self.pk} on image {self.image_id}"


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

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.FileField(upload_to=job_upload_to, blank=True, max_length=500)
    error = models.TextField(blank=True)
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

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"
