"""Images: the files of a project and where each stands in the review workflow."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Func

from annotator.models.projects import Label, Project


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


THUMBNAIL_SIZE = 256


def thumbnail_name(project_id: int, sha256: str) -> str:
    """Where an image's thumbnail is stored (services/dataset.image_thumbnail makes it). Named
    by the image's bytes: a project holds one image per sha256 (uploads dedupe), and a name
    that never changes is what lets the browser cache it as immutable."""
    return f"projects/{project_id}/thumbs/{sha256}-{THUMBNAIL_SIZE}.webp"


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
    # Image-level classification: labels of kind "tag" (services/tags.py checks the kind).
    tags = models.ManyToManyField(Label, blank=True, related_name="tagged_images")
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
