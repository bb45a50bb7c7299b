"""Proposals: masks a job offered, and a labeler's keep / drop decisions on them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotator.api.serializers.annotations import AnnotationSerializer
from annotator.api.serializers.fields import FiniteFloatField, IdField
from annotator.models import Proposal


class ProposalSerializer(serializers.ModelSerializer):
    # A plain string in the schema: as an enum it would collide with Annotation's `source`
    # (drf-spectacular warns, and a warning fails `check --deploy --fail-level WARNING`).
    source = serializers.CharField(read_only=True, help_text="everything | auto_annotate | text")

    class Meta:
        model = Proposal
        fields = [
            "id", "image", "job", "source", "label", "phrase", "rle", "bbox", "area", "score",
            "status", "annotation", "created_by", "created_at", "decided_by", "decided_at",
        ]  # fmt: skip


class ProposalListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[*Proposal.Status.values, "all"],
        default=Proposal.Status.PENDING,
        help_text="pending (default), kept, dropped or all",
    )


class ProposalKeepSerializer(serializers.Serializer):
    label = IdField(
        required=False,
        allow_null=True,
        help_text="the label the annotation gets (default: the proposal's suggested label)",
    )


class ProposalKeptSerializer(serializers.Serializer):
    proposal = ProposalSerializer()
    annotation = AnnotationSerializer()


class ProposalBulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["keep", "drop"])
    min_score = FiniteFloatField(
        required=False, allow_null=True, min_value=0, max_value=1,
        help_text="only pending proposals scoring at least this",
    )  # fmt: skip
    box = serializers.ListField(
        child=FiniteFloatField(), min_length=4, max_length=4, required=False, allow_null=True,
        help_text="[x0, y0, x1, y1] in image pixels: only proposals whose bbox lies inside",
    )  # fmt: skip
    label = IdField(
        required=False,
        allow_null=True,
        help_text="keep: the label every kept one gets (default: each one's suggested label)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("min_score") is None and attrs.get("box") is None:
            raise serializers.ValidationError("Give `min_score` and/or `box`.")
        box = attrs.get("box")
        if box is not None and not (box[0] < box[2] and box[1] < box[3]):
            raise serializers.ValidationError("`box` is [x0, y0, x1, y1] with x0 < x1, y0 < y1.")
        return attrs


class ProposalBulkResultSerializer(serializers.Serializer):
    kept = serializers.IntegerField(required=False)
    dropped = serializers.IntegerField(required=False)
    skipped = serializers.IntegerField(help_text="decided by someone else meanwhile")
