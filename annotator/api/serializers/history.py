"""Annotation history: the versions of an image's annotations, and a revert to one."""

from __future__ import annotations

from rest_framework import serializers

from annotator.api.serializers.fields import IdField
from annotator.models import AnnotationVersion


class AnnotationVersionSerializer(serializers.ModelSerializer):
    user_name = serializers.CharField(
        source="user.username", default=None, read_only=True, allow_null=True
    )
    label = serializers.IntegerField(source="snapshot.label", read_only=True)

    class Meta:
        model = AnnotationVersion
        fields = ["id", "annotation_id", "version", "action", "user", "user_name", "created_at",
                  "label", "changed", "reverted_to"]  # fmt: skip


class AnnotationVersionFullSerializer(AnnotationVersionSerializer):
    class Meta(AnnotationVersionSerializer.Meta):
        fields = [*AnnotationVersionSerializer.Meta.fields, "snapshot"]


class HistoryQuerySerializer(serializers.Serializer):
    annotation = IdField(required=False, help_text="only this annotation's versions")
    snapshot = serializers.BooleanField(
        default=False, help_text="include each version's fields (polygons, rle, ...)"
    )


class RevertSerializer(serializers.Serializer):
    annotation = IdField(help_text="the annotation's id (also of a deleted one)")
    to = IdField(help_text="the version to go back to")
    version = IdField(
        required=False,
        help_text="the annotation's current version you read: required while it exists (a "
        "stale one gets 409); for a deleted one, optional (its delete's version)",
    )
