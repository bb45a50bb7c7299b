"""The review workflow: decisions, the record of steps, pinned issues."""

from __future__ import annotations

from rest_framework import serializers

from annotator.api.serializers.fields import FiniteFloatField, IdField
from annotator.models import ReviewEvent, ReviewIssue


class ReviewSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    comment = serializers.CharField(allow_blank=True, default="", max_length=10_000)


class ReviewEventSerializer(serializers.ModelSerializer):
    user_name = serializers.CharField(source="user.username", default=None, read_only=True)

    class Meta:
        model = ReviewEvent
        fields = ["id", "action", "from_status", "to_status", "comment", "user", "user_name",
                  "created_at"]  # fmt: skip


class ReviewIssueSerializer(serializers.ModelSerializer):
    created_by_name = serializers.CharField(
        source="created_by.username", default=None, read_only=True, allow_null=True
    )
    resolved_by_name = serializers.CharField(
        source="resolved_by.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = ReviewIssue
        fields = ["id", "image", "annotation", "x", "y", "text", "created_by", "created_by_name",
                  "created_at", "resolved_by", "resolved_by_name", "resolved_at"]  # fmt: skip


class IssueCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000)
    x = FiniteFloatField(required=False, allow_null=True)
    y = FiniteFloatField(required=False, allow_null=True)
    annotation = IdField(required=False, allow_null=True)


class ReviewRecordSerializer(serializers.Serializer):
    steps = serializers.ListField(child=serializers.CharField())
    events = ReviewEventSerializer(many=True)
    issues = ReviewIssueSerializer(many=True)
