"""Annotations: the objects labelers keep."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.images import Image
from annotator.models.projects import Label


class Annotation(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        SAM = "sam", "SAM"
        AUTO = "auto", "Automatic"

    class Kind(models.TextChoices):
        MASK = "mask", "Mask"
        # A box keeps its rectangle as polygons and RLE too, so areas, overlays, the list and
        # the mask/YOLO writers need no second path; `kind` tells COCO to write a bbox only.
        BOX = "box", "Bounding box"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MASK)
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
    # {attribute name: value}, checked against the project's Attribute rows by the services.
    attributes = models.JSONField(default=dict, blank=True)
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
        # The reverse, (label, image): PostgreSQL merges it with the primary key for the label
        # filter in upload order (1.2 ms for a 1% label at a million images, bench/RESULTS.md).
        indexes = [
            models.Index(fields=["image", "label"], name="ann_image_label"),
            models.Index(fields=["label", "image"], name="ann_label_image"),
        ]

    def __str__(self) -> str:
        return f"{self.label} on {self.image_id}"
