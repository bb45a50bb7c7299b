"""Images: listing, upload, review, filters and updates."""

from __future__ import annotations

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

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_embedding_status(self, obj: Image) -> str | None:
        statuses = self.context.get("embedding_statuses")
        if statuses is not None:
            return statuses.get(obj.pk)
        row = Embedding.objects.filter(image=obj, sam_model_id=obj.project.sam_model_id).first()
        return row.status if row else None


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
