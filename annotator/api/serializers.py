"""Request validation and response shapes. No business logic: views pass validated data on to
annotator/services.py."""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.models import (
    Annotation,
    Embedding,
    Image,
    Job,
    Label,
    Membership,
    Project,
    Role,
    SamModel,
)


class FiniteFloatField(serializers.FloatField):
    """A float that refuses NaN and infinity (which float("nan") would happily accept)."""

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


# Ids and versions are the database's 64-bit integers. A larger number given as an id reached
# the query (as `pk__in`, or a filter) and raised OverflowError on SQLite: a 500.
MAX_ID = 2**63 - 1


def IdField(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=kwargs.pop("min_value", 1), max_value=MAX_ID, **kwargs
    )


class PromptsField(serializers.DictField):
    """The prompts an annotation was made from, kept as its record (points and a box from the
    page). Bounded: it is stored and served with every annotation, so a megabyte of it would
    be a megabyte in every list of the image's annotations."""

    max_bytes = 64 * 1024

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if len(json.dumps(value)) > self.max_bytes:
            raise serializers.ValidationError(f"Must be at most {self.max_bytes} bytes of JSON.")
        return value


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]


class SamModelSerializer(serializers.Serializer):
    checkpoint = serializers.CharField()
    sha256 = serializers.CharField(allow_blank=True)
    onnx_status = serializers.CharField()
    manifest_url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_manifest_url(self, obj: Any) -> str | None:
        if not obj.sha256:
            return None
        return reverse("api-model-manifest", kwargs={"sha256": obj.sha256})


class ProjectSerializer(serializers.ModelSerializer):
    labels = LabelSerializer(many=True, read_only=True)
    sam_model = SamModelSerializer(read_only=True)
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "labels", "sam_model", "role", "created_at"]

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, obj: Project) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(obj.pk)


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    color = serializers.CharField(max_length=7, default="#ff0000")


# annotator.sam.KNOWN_CHECKPOINTS' names, repeated because the web process never imports torch
# (tests/security/test_hostile_inputs.py keeps the two equal).
KNOWN_CHECKPOINT_NAMES = ("mobile_sam", "sam_vit_b", "sam_vit_h", "sam_vit_l")


# Bounds on what a project carries, so one request cannot store megabytes or run thousands of
# inserts (LVIS, among the largest vocabularies, has 1203 categories).
MAX_DESCRIPTION = 100_000
MAX_LABELS = 2_000


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, default="", max_length=MAX_DESCRIPTION)
    labels = LabelInputSerializer(many=True, required=False, max_length=MAX_LABELS)
    sam_checkpoint = serializers.CharField(
        max_length=500,
        required=False,
        help_text=(
            "a known checkpoint name, the SAM_CHECKPOINT setting, or a checkpoint an "
            "administrator registered (a SAM model in /admin/)"
        ),
    )

    def validate_sam_checkpoint(self, value: str) -> str:
        # The workers load whatever path this names. A path chosen by any API caller would let
        # them point the workers at arbitrary files (a planted pickle, /etc/shadow); paths are
        # an administrator's decision, made in the admin.
        if value in KNOWN_CHECKPOINT_NAMES or value == settings.SAM_CHECKPOINT:
            return value
        if SamModel.objects.filter(checkpoint=value).exists():
            return value
        raise serializers.ValidationError(
            f"Unknown checkpoint {value!r}: give one of {', '.join(KNOWN_CHECKPOINT_NAMES)} or a "
            "checkpoint an administrator registered in the admin (SAM models)."
        )


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(
        allow_blank=True, required=False, max_length=MAX_DESCRIPTION
    )


class LabelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    color = serializers.CharField(max_length=7, required=False)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role", "created_at"]
        read_only_fields = ["id", "user", "username", "created_at"]


class MembershipWriteSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), required=False
    )
    username = serializers.CharField(required=False)
    role = serializers.ChoiceField(choices=Role.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "user" not in attrs:
            if "username" not in attrs:
                raise serializers.ValidationError("Give user (an id) or username.")
            user = get_user_model().objects.filter(username=attrs["username"]).first()
            if user is None:
                raise serializers.ValidationError(f"No user named {attrs['username']!r}.")
            attrs["user"] = user
        return attrs


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ImageSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    embedding_url = serializers.SerializerMethodField()
    embedding_status = serializers.SerializerMethodField()
    # Only list views annotate the count; elsewhere it is null.
    annotation_count = serializers.IntegerField(read_only=True, default=None, allow_null=True)

    class Meta:
        model = Image
        fields = [
            "id", "project", "original_name", "width", "height", "sha256", "status",
            "assignee", "locked_by", "locked_until", "review_comment", "reviewed_by", "reviewed_at",
            "file_url", "embedding_url",
            "embedding_status", "annotation_count", "created_at", "updated_at",
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


class ReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    comment = serializers.CharField(allow_blank=True, default="", max_length=10_000)


class NextImageQuerySerializer(serializers.Serializer):
    after = IdField(required=False, min_value=0)


class ImageFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Image.Status.choices, required=False)
    assignee = IdField(required=False)


class ImageUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Image.Status.choices, required=False)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), allow_null=True, required=False
    )


class AnnotationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Annotation
        fields = [
            "id", "image", "label", "polygons", "rle", "bbox", "area", "source", "score",
            "prompts", "version", "created_by", "updated_by", "created_at", "updated_at",
        ]  # fmt: skip


class AnnotationCreateSerializer(serializers.Serializer):
    label = IdField()
    polygons = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='[{"outer": [[x, y], ...], "holes": [[[x, y], ...]]}]',
    )
    rle = serializers.JSONField(
        required=False, allow_null=True, help_text='COCO RLE {"size": [h, w], "counts"}'
    )
    source = serializers.ChoiceField(choices=Annotation.Source.choices, default="manual")
    score = FiniteFloatField(required=False, allow_null=True)
    prompts = PromptsField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("polygons") is None) == (attrs.get("rle") is None):
            raise serializers.ValidationError("Give exactly one of polygons or rle.")
        return attrs


class AnnotationUpdateSerializer(serializers.Serializer):
    version = IdField(help_text="the version you read")
    label = IdField(required=False)
    polygons = serializers.JSONField(required=False, allow_null=True)
    rle = serializers.JSONField(required=False, allow_null=True)
    score = FiniteFloatField(required=False, allow_null=True)
    prompts = PromptsField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("polygons") is not None and attrs.get("rle") is not None:
            raise serializers.ValidationError("Give at most one of polygons or rle.")
        return attrs


class AnnotationBulkSerializer(serializers.Serializer):
    image = IdField()
    # One request, one transaction: each create rasterises its geometry, so the count is bounded
    # to keep a request within seconds (the page saves one annotation at a time).
    create = AnnotationCreateSerializer(many=True, required=False, default=list, max_length=1000)
    delete = serializers.ListField(child=IdField(), required=False, default=list, max_length=10_000)
    versions = serializers.ListField(
        child=IdField(),
        required=False,
        max_length=10_000,
        help_text="The version read for each id in `delete`, in the same order: an annotation "
        "changed since is not deleted and the request is a 409. Without it, ids are deleted "
        "whatever their version.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        versions = attrs.get("versions")
        if versions is not None and len(versions) != len(attrs["delete"]):
            raise serializers.ValidationError(
                "`versions` must give one version per id in `delete`."
            )
        return attrs


class AnnotationBulkResultSerializer(serializers.Serializer):
    created = AnnotationSerializer(many=True)


class PointSerializer(serializers.ListField):
    child = FiniteFloatField()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=2, max_length=2, **kwargs)


class PredictSerializer(serializers.Serializer):
    point_coords = serializers.ListField(
        child=PointSerializer(), required=False, default=list, max_length=64,
        help_text="[[x, y], ...] in original image pixels",
    )  # fmt: skip
    point_labels = serializers.ListField(
        child=serializers.ChoiceField(choices=[0, 1]), required=False, default=list,
        help_text="1 foreground, 0 background, one per point",
    )  # fmt: skip
    box = serializers.ListField(
        child=FiniteFloatField(), min_length=4, max_length=4, required=False, allow_null=True,
        help_text="[x0, y0, x1, y1] in original image pixels",
    )  # fmt: skip
    multimask_output = serializers.BooleanField(default=True)
    polygons = serializers.BooleanField(default=True, help_text="also return polygons")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs["point_coords"]) != len(attrs["point_labels"]):
            raise serializers.ValidationError("point_coords and point_labels differ in length.")
        if not attrs["point_coords"] and not attrs.get("box"):
            raise serializers.ValidationError("Give at least one point or a box.")
        box = attrs.get("box")
        if box and not (box[0] < box[2] and box[1] < box[3]):
            raise serializers.ValidationError("box must be [x0, y0, x1, y1] with x0 < x1, y0 < y1.")
        image = self.context.get("image")
        if image is not None:
            # Checked here, before the view looks at (or requests) the embedding: a prompt far
            # off the image is a caller's mistake (normalised or resized coordinates), not work.
            # OpenCV and pycocotools: loaded with the first prompt, not at web process start.
            from annotator.geometry import point_on_image

            corners = [*attrs["point_coords"], *([box[:2], box[2:]] if box else [])]
            for x, y in corners:
                if not point_on_image(x, y, image.width, image.height):
                    raise serializers.ValidationError(
                        f"[{x}, {y}] is outside the {image.width}x{image.height} image "
                        "(prompts are in original image pixels)."
                    )
        return attrs


class JobSerializer(serializers.ModelSerializer):
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "project", "kind", "params", "status", "done", "total", "result_url", "error",
            "created_by", "created_at", "finished_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_result_url(self, obj: Job) -> str | None:
        if not obj.result:
            return None
        return reverse("api-job-result", kwargs={"pk": obj.pk})


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "export: format (coco|yolo_seg|masks), status, image_ids. everything: label, "
            "points_per_side, pred_iou_thresh, stability_score_thresh, image_ids. auto_annotate: "
            "boxes {image id: [[x0, y0, x1, y1]]} + label, or detector (a configured name) + "
            "class_labels {class id: label id} and/or label, conf, image_ids."
        ),
    )


class ExportCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["coco", "yolo_seg", "masks"], default="coco")
    rle = serializers.BooleanField(
        default=False, help_text="for format=coco: segmentations as RLE instead of polygons"
    )
    mask_mode = serializers.ChoiceField(
        choices=["instance", "semantic"], default="instance", help_text="for format=masks"
    )
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=Image.Status.choices), required=False,
        help_text="only images in these statuses (default: all)",
    )  # fmt: skip


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="COCO JSON (or a zip of one), or a zip archive")
    format = serializers.ChoiceField(choices=["coco", "yolo_seg", "masks", "yolo_boxes"])
    label = IdField(
        required=False, help_text="yolo_boxes: the label id every box gets (default: the first)"
    )


class ImportResultSerializer(serializers.Serializer):
    images = serializers.IntegerField()
    annotations = serializers.IntegerField()
    labels_created = serializers.ListField(child=serializers.CharField())
