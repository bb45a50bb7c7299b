"""Label attributes (the project's definitions) and image tags."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotator.api.serializers.fields import IdField
from annotator.models import MAX_ATTRIBUTE_CHOICES, Attribute


class AttributeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attribute
        fields = ["id", "name", "type", "label", "default", "choices"]


class AttributeCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=Attribute.Type.choices)
    label = IdField(required=False, allow_null=True, help_text="an object label; null: every one")
    default = serializers.JSONField(required=False, allow_null=True)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=MAX_ATTRIBUTE_CHOICES,
        help_text="the values of a select attribute",
    )


class AttributeUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    default = serializers.JSONField(required=False, allow_null=True)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=MAX_ATTRIBUTE_CHOICES,
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give name, default or choices to change.")
        return attrs


class ImageTagsSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.IntegerField(), help_text="tag label ids")
