"""What an import brings beside objects: image tag labels and attribute definitions.

A COCO file of ours names both (its top-level `tags` and `attributes`, annotator/formats/coco.py);
a CVAT file carries attribute values only, so a definition is inferred from the values (true or
false: a checkbox; a number: a number; else text). Names the project has already keep their
definition, and the values are then checked against it like any write (services/attributes.py).
"""

from __future__ import annotations

from typing import Any

from annotator.models import Label, Project
from annotator.services.attributes import attribute_create
from annotator.services.errors import Invalid
from annotator.services.projects import label_create, labels_check_room

DEFAULT_TAG_COLOR = "#888888"


def tag_labels_for(*, project: Project, dataset: Any) -> dict[str, Label]:
    """The project's tag labels by name, creating those the dataset names and it lacks."""
    existing = {label.name: label for label in project.labels.all()}
    wanted = list(dict.fromkeys(getattr(dataset, "tag_labels", [])))
    for image in dataset.images:
        wanted += [t for t in getattr(image, "tags", []) if t not in wanted]
    missing = [name for name in wanted if name.strip() not in existing]
    labels_check_room(project=project, adding=len(missing))
    out = {}
    for name in wanted:
        label = existing.get(name.strip())
        if label is None:
            label = label_create(project=project, name=name, color=DEFAULT_TAG_COLOR, kind="tag")
            existing[label.name] = label
        elif label.kind != Label.Kind.TAG:
            raise Invalid(f"{name!r} is an object label of the project, not an image tag.")
        out[name] = label
    return out


def _inferred(value: Any) -> str:
    if isinstance(value, bool):
        return "checkbox"
    if isinstance(value, int | float):
        return "number"
    return "text"


def attributes_for(*, project: Project, dataset: Any, labels: dict[str, Label]) -> None:
    """Create the attribute definitions the dataset names (or implies) and the project lacks."""
    known = set(project.attributes.values_list("name", flat=True))
    specs = {spec["name"]: spec for spec in getattr(dataset, "attributes", [])}
    for image in dataset.images:
        for ann in image.annotations:
            for name, value in getattr(ann, "attributes", {}).items():
                if name not in specs and value is not None:
                    specs[name] = {"name": name, "type": _inferred(value)}
    for name, spec in specs.items():
        if name in known:
            continue
        label = None
        if spec.get("label") is not None:
            label = labels.get(spec["label"])
            if label is None:
                raise Invalid(
                    f"Attribute {name!r} is for label {spec['label']!r}, not in the file."
                )
        attribute_create(
            project=project,
            name=name,
            type=spec["type"],
            default=spec.get("default"),
            choices=spec.get("choices") or None,
            label=label,
        )
        known.add(name)
