"""Projects, their people, labels and the SAM model they use."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
    # Set while the project is archived: out of the default project list, and every write
    # through the API is refused (reads and exports go on) until an owner or manager unarchives.
    archived_at = models.DateTimeField(null=True, blank=True)
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
    class Kind(models.TextChoices):
        # An object label names annotations (masks, boxes); a tag label names a whole image
        # (classification). One table for both: they share the name, colour, the per-project
        # uniqueness and limit, the settings page and the imports' find-or-create by name.
        OBJECT = "object", "Object"
        TAG = "tag", "Image tag"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#ff0000", help_text="#rrggbb")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.OBJECT)
    # The manager's order: the label panel, its 1-9 keys and the exports' category ids follow
    # it (ties, e.g. rows from before the field existed, fall back to creation order).
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_TEXT = 1_000
MAX_ATTRIBUTE_CHOICES = 100


class Attribute(models.Model):
    """A property every object (annotation) of the project, or of one label, carries: CVAT's
    attribute spec. Values live in Annotation.attributes ({name: value}); names are unique in
    the project, so a COCO `attributes` dict (flat name -> value) is never ambiguous."""

    class Type(models.TextChoices):
        CHECKBOX = "checkbox", "Checkbox (true/false)"
        TEXT = "text", "Free text"
        SELECT = "select", "One of a list"
        NUMBER = "number", "Number"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="attributes")
    # Null: every object label of the project has it.
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.CASCADE, related_name="attributes"
    )
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=8, choices=Type.choices)
    default = models.JSONField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="attribute_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"
