"""Annotations, their bulk changes, and the prompts of server-side prediction."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotator.api.serializers.fields import FiniteFloatField, IdField, PromptsField
from annotator.models import Annotation


class AnnotationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Annotation
        fields = [
            "id", "image", "label", "polygons", "rle", "bbox", "area", "source", "score",
            "prompts", "version", "created_by", "updated_by", "created_at", "updated_at",
            "kind", "attributes",
        ]  # fmt: skip


_KIND_HELP = "mask (polygons or rle) or box (bbox [x, y, w, h] in pixels)"
_BBOX_HELP = "[x, y, w, h] in pixels, for a box"
_ATTRIBUTES_HELP = "{name: value} of the project's attributes; null unsets one"


class AnnotationCreateSerializer(serializers.Serializer):
    label = IdField()
    kind = serializers.ChoiceField(
        choices=Annotation.Kind.choices, default=Annotation.Kind.MASK, help_text=_KIND_HELP
    )
    bbox = serializers.JSONField(required=False, allow_null=True, help_text=_BBOX_HELP)
    attributes = serializers.JSONField(required=False, allow_null=True, help_text=_ATTRIBUTES_HELP)
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
        if attrs["kind"] == Annotation.Kind.BOX:
            if attrs.get("bbox") is None:
                raise serializers.ValidationError("A box needs its bbox [x, y, w, h].")
        elif (attrs.get("polygons") is None) == (attrs.get("rle") is None):
            raise serializers.ValidationError("Give exactly one of polygons or rle.")
        return attrs


class AnnotationUpdateSerializer(serializers.Serializer):
    version = IdField(help_text="the version you read")
    label = IdField(required=False)
    kind = serializers.ChoiceField(
        choices=Annotation.Kind.choices, required=False, help_text="box -> mask with polygons"
    )
    bbox = serializers.JSONField(required=False, allow_null=True, help_text=_BBOX_HELP)
    attributes = serializers.JSONField(required=False, allow_null=True, help_text=_ATTRIBUTES_HELP)
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
