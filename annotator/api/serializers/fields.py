"""Fields the serializers share: finite floats, database-sized ids, bounded prompts."""

from __future__ import annotations

import json
import math
from typing import Any

from rest_framework import serializers


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
