"""The review record: decisions and the issues reviewers pin."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.models.annotations import Annotation
from annotator.models.images import Image


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
