"""Annotation history: one row per write of an annotation, kept after the annotation is gone."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.images import Image


class AnnotationVersion(models.Model):
    """The annotation as one write left it (services/history.py builds the snapshot). The
    annotation's id is a plain column, not a foreign key: a delete keeps the history, from which
    a revert restores the annotation under the same id."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        REVERT = "revert", "Reverted"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotation_versions")
    annotation_id = models.BigIntegerField()
    # The annotation's `version` after this write (a delete moves it on too).
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=8, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # services.history.snapshot(): label, polygons, rle, bbox, area, score, source, prompts.
    snapshot = models.JSONField()
    # Names of the snapshot's fields this write changed (all of them for a create).
    changed = models.JSONField(default=list)
    # For a revert: the version it went back to.
    reverted_to = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["annotation_id", "version"]
        constraints = [
            # Two writers can never record the same version: the second insert fails, so a
            # history is never forked (the annotation's conditional UPDATE already makes that
            # so; this holds it for a restore after delete, which has no row to update).
            models.UniqueConstraint(
                fields=["annotation_id", "version"], name="annotation_version_unique"
            ),
        ]
        indexes = [models.Index(fields=["image", "annotation_id"], name="annver_image_ann")]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id} v{self.version} ({self.action})"
