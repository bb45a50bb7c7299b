"""Proposals: masks a machine offers, kept or dropped by a labeler."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.annotations import Annotation
from annotator.models.images import Image
from annotator.models.projects import Label


class Proposal(models.Model):
    """A mask offered to the labeler, not yet an annotation: everything mode, auto-annotate and
    text prompts write these. The labeler keeps one (it becomes an Annotation, with the label
    they choose) or drops it; nothing a machine proposed is saved as an annotation unasked."""

    class Source(models.TextChoices):
        EVERYTHING = "everything", "Everything mode"
        AUTO_ANNOTATE = "auto_annotate", "Auto-annotation"
        TEXT = "text", "Text prompt"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        KEPT = "kept", "Kept"
        DROPPED = "dropped", "Dropped"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="proposals")
    job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    # The label suggested (a detector's class, the label named like a text phrase); the labeler
    # may choose another when keeping.
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    phrase = models.CharField(max_length=200, blank=True)
    # COCO RLE of the mask in the image's pixels; bbox [x, y, w, h] for "keep all inside a box".
    rle = models.JSONField()
    bbox = models.JSONField()
    area = models.FloatField()
    score = models.FloatField(null=True, blank=True)
    prompts = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["image", "status"], name="proposal_image_status")]

    def __str__(self) -> str:
        return f"{self.source} proposal {self.pk} on image {self.image_id}"
