"""Annotation history: every write of an annotation leaves one AnnotationVersion row, written in
the same transaction as the write (one INSERT, from the row the write already holds: no extra
read), and a revert goes back to one of them through the same checks as any edit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from annotator.models import Annotation, AnnotationVersion
from annotator.services.errors import User

# The editable fields a version keeps and a revert restores. The one place to add a field
# (a kind, attributes): snapshot() below reads this tuple and the revert writes it back.
SNAPSHOT_FIELDS = (
    "label", "kind", "polygons", "rle", "bbox", "area", "score", "source", "prompts", "attributes",
)  # fmt: skip


def snapshot(annotation: Annotation) -> dict[str, Any]:
    """The annotation's editable fields as one JSON dict (the label by its id)."""
    return {
        name: getattr(annotation, "label_id" if name == "label" else name)
        for name in SNAPSHOT_FIELDS
    }


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Names of the fields that differ (all of them when there was nothing before)."""
    if before is None:
        return list(after)
    return [name for name in after if before.get(name) != after[name]]


def version_record(
    *,
    annotation: Annotation,
    action: str,
    user: User | None,
    before: dict[str, Any] | None = None,
    reverted_to: int | None = None,
) -> AnnotationVersion:
    """Record the annotation as this write left it (`annotation.version` is the new version).
    `before`: the snapshot it replaced, when known, to name what changed."""
    after = snapshot(annotation)
    return AnnotationVersion.objects.create(
        image_id=annotation.image_id,
        annotation_id=annotation.pk,
        version=annotation.version,
        action=action,
        user=user,
        snapshot=after,
        changed=[] if action == AnnotationVersion.Action.DELETE else changed_fields(before, after),
        reverted_to=reverted_to,
    )


def versions_record_deleted(*, annotations: Iterable[Annotation], user: User | None) -> None:
    """A bulk delete: one row per annotation, in one INSERT. A bulk delete does not move the
    version of the rows it removes, so the delete is recorded as the next one."""
    AnnotationVersion.objects.bulk_create(
        AnnotationVersion(
            image_id=annotation.image_id,
            annotation_id=annotation.pk,
            version=annotation.version + 1,
            action=AnnotationVersion.Action.DELETE,
            user=user,
            snapshot=snapshot(annotation),
            changed=[],
        )
        for annotation in annotations
    )
