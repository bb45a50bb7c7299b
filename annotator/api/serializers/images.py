"""Images: listing, upload, review, filters and updates."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.api.serializers.fields import IdField
from annotator.models import Embedding, Image
from annotator.selectors import EMBEDDING_NONE, IMAGE_SORTS


class ImageSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    embedding_url = serializers.SerializerMethodField()
    embedding_status = serializers.SerializerMethodField()
    # Only list views annotate the count; elsewhere it is null.
    annotation_count = serializers.IntegerField(read_only=True, default=None, allow_null=True)
    # Image-level tags: ids of labels of kind "tag" (POST/DELETE images/{id}/tags/{label_id}).
    tags = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Image
        fields = [
            "id", "project", "original_name", "width", "height", "sha256", "status",
            "assignee", "locked_by", "locked_until", "review_comment", "reviewed_by", "reviewed_at",
            "file_url", "embedding_url",
            "embedding_status", "annotation_count", "created_at", "updated_at",
            "tags",
        ]  # fmt: skip

    def get_file_url(self, obj: Image) -> str:
        return reverse("api-image-file", kwargs={"pk": obj.pk})

    def get_embedding_url(self, obj: Image) -> str:
        return reverse("api-image-embedding", kwargs={"pk": obj.pk})

    def to_representation(self, instance: Image) -> dict[str, Any]:
        """The same dict as DRF's field-by-field path, built directly: that path took about
        0.25 ms an image, 12.6 ms of a 29 ms page of 50 in the dataset list (bench/RESULTS.md).
        A field added to Meta.fields and not here sends every row back to DRF's path."""
        if set(self.Meta.fields) != _FAST_FIELDS:
            return super().to_representation(instance)
        when = _DATETIME.to_representation
        i = instance
        return {
            "id": i.pk, "project": i.project_id, "original_name": i.original_name,
            "width": i.width, "height": i.height, "sha256": i.sha256, "status": i.status,
            "assignee": i.assignee_id, "locked_by": i.locked_by_id,
            "locked_until": when(i.locked_until) if i.locked_until else None,
            "review_comment": i.review_comment, "reviewed_by": i.reviewed_by_id,
            "reviewed_at": when(i.reviewed_at) if i.reviewed_at else None,
            "file_url": self.get_file_url(i), "embedding_url": self.get_embedding_url(i),
            "embedding_status": self.get_embedding_status(i),
            "annotation_count": getattr(i, "annotation_count", None),
            "created_at": when(i.created_at), "updated_at": when(i.updated_at),
        }  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_embedding_status(self, obj: Image) -> str | None:
        statuses = self.context.get("embedding_statuses")
        if statuses is not None:
            return statuses.get(obj.pk)
        row = Embedding.objects.filter(image=obj, sam_model_id=obj.project.sam_model_id).first()
        return row.status if row else None


# The fields ImageSerializer.to_representation writes itself, and the one DateTimeField whose
# output (ISO 8601, "Z" for UTC) it reuses.
_FAST_FIELDS = {
    "id", "project", "original_name", "width", "height", "sha256", "status", "assignee",
    "locked_by", "locked_until", "review_comment", "reviewed_by", "reviewed_at", "file_url",
    "embedding_url", "embedding_status", "annotation_count", "created_at", "updated_at",
}  # fmt: skip
_DATETIME = serializers.DateTimeField()


class ImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        allow_empty=False,
        help_text="images (JPEG, PNG, WebP, TIFF, BMP, GIF) and zip archives of images",
    )


class NextImageQuerySerializer(serializers.Serializer):
    after = IdField(required=False, min_value=0)
    review = serializers.BooleanField(required=False, default=False)


class ImageFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Image.Status.choices, required=False)
    assignee = IdField(required=False)
    unassigned = serializers.BooleanField(
        required=False, help_text="only images nobody is assigned"
    )
    # The dataset page's filters and sorts (selectors.image_list).
    label = IdField(required=False, help_text="images with at least one annotation of this label")
    embedding = serializers.ChoiceField(
        choices=[*Embedding.Status.values, EMBEDDING_NONE],
        required=False,
        help_text="the status of the embedding under the project's model; none: not requested",
    )
    search = serializers.CharField(
        required=False, max_length=255, help_text="a prefix of the name, case-insensitive"
    )
    ordering = serializers.ChoiceField(
        choices=[f"{sign}{key}" for key in IMAGE_SORTS for sign in ("", "-")],
        default="id",
        help_text="id (upload order), name, status or updated; a leading - for descending",
    )


class ImageUpdateSerializer(serializers.Serializer):
    # A step of the review workflow (annotator/services/review.py), not a free write.
    status = serializers.ChoiceField(choices=Image.Status.choices, required=False)
    comment = serializers.CharField(allow_blank=True, default="", max_length=10_000)
    # An id only: looking it up here answered "does not exist" for ids nobody has and "not a
    # member" for everyone else, before the caller's right to assign was even checked.
    assignee = serializers.IntegerField(
        allow_null=True, required=False, min_value=1, max_value=2**63 - 1
    )
