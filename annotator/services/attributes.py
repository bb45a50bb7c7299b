"""Label attributes (CVAT's): the project defines them (a manager's work), every object carries
values for them in Annotation.attributes, which this module checks on every write.

A value is a JSON scalar of the attribute's type: a boolean (checkbox), a string (text, or one
of `choices` for select) or a finite number; `null` in a write unsets it. Unknown names, values of
the wrong type and values outside the choices are refused with a 400 naming the attribute.
"""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from annotator.models import (
    MAX_ATTRIBUTE_CHOICES,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    Annotation,
    Attribute,
    Label,
    Project,
)
from annotator.services.errors import Conflict, Invalid

TYPES = tuple(Attribute.Type.values)


def check_value(*, spec: Attribute, value: Any) -> Any:
    """The value if it fits the attribute's type (and choices); else Invalid naming both."""
    where = f"Attribute {spec.name!r} ({spec.type})"
    if spec.type == Attribute.Type.CHECKBOX:
        if not isinstance(value, bool):
            raise Invalid(f"{where} takes true or false, not {value!r}.")
    elif spec.type == Attribute.Type.NUMBER:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise Invalid(f"{where} takes a finite number, not {value!r}.")
    elif not isinstance(value, str):
        raise Invalid(f"{where} takes a string, not {value!r}.")
    elif len(value) > MAX_ATTRIBUTE_TEXT:
        raise Invalid(f"{where} takes at most {MAX_ATTRIBUTE_TEXT} characters.")
    elif "\x00" in value:
        # PostgreSQL's jsonb holds no NUL character: refused here, not a 500 there.
        raise Invalid(f"{where} takes no NUL character.")
    elif spec.type == Attribute.Type.SELECT and value not in spec.choices:
        raise Invalid(f"{where} takes one of {', '.join(map(repr, spec.choices))}, not {value!r}.")
    return value


def specs_for(*, label: Label) -> dict[str, Attribute]:
    """The attributes an object of `label` carries: the project's, and those of the label."""
    rows = Attribute.objects.filter(project_id=label.project_id)
    return {a.name: a for a in rows if a.label_id in (None, label.pk)}


def attribute_values(
    *, label: Label, values: Any, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The attributes an object of `label` stores after a write of `values` (a partial dict:
    absent names keep their current value, or the default on a new object; null unsets).

    Current values of attributes that do not apply to `label` (the object was relabelled) go."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise Invalid("attributes must be an object {name: value}.")
    specs = specs_for(label=label)
    if current is None:
        out = {name: s.default for name, s in specs.items() if s.default is not None}
    else:
        out = {name: v for name, v in current.items() if name in specs}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(sorted(specs)) or "none"
            raise Invalid(
                f"Unknown attribute {name!r} for label {label.name!r}; its attributes: {known}."
            )
        if value is None:
            out.pop(name, None)
        else:
            out[name] = check_value(spec=spec, value=value)
    return out


def _check_spec(
    *, project: Project, name: str, type: str, default: Any, choices: Any, label: Label | None
) -> tuple[str, list[str]]:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100 or "\x00" in name:
        raise Invalid("An attribute needs a name of 1 to 100 characters (no NUL).")
    if type not in TYPES:
        raise Invalid(f"Unknown attribute type {type!r}; one of {', '.join(TYPES)}.")
    if label is not None and (label.project_id != project.pk or label.kind != Label.Kind.OBJECT):
        raise Invalid("An attribute belongs to an object label of the same project.")
    choices = list(choices or [])
    if type == Attribute.Type.SELECT:
        if not choices or len(choices) > MAX_ATTRIBUTE_CHOICES:
            raise Invalid(f"A select attribute needs 1 to {MAX_ATTRIBUTE_CHOICES} choices.")
        if any(
            not isinstance(c, str) or not c.strip() or len(c) > 100 or "\x00" in c for c in choices
        ):
            raise Invalid("Each choice is a non-empty string of at most 100 characters.")
        if len(set(choices)) != len(choices):
            raise Invalid("The choices repeat a value.")
    elif choices:
        raise Invalid(f"Only select attributes have choices, not {type} ones.")
    if default is not None:
        check_value(spec=Attribute(name=name, type=type, choices=choices), value=default)
    return name, choices


def attribute_create(
    *,
    project: Project,
    name: str,
    type: str,
    default: Any = None,
    choices: Any = None,
    label: Label | None = None,
) -> Attribute:
    name, choices = _check_spec(
        project=project, name=name, type=type, default=default, choices=choices, label=label
    )
    if project.attributes.count() >= MAX_ATTRIBUTES:
        raise Invalid(f"A project has no more than {MAX_ATTRIBUTES} attributes.")
    if project.attributes.filter(name=name).exists():
        raise Conflict(f"The project already has an attribute {name!r}.")
    return Attribute.objects.create(
        project=project, label=label, name=name, type=type, default=default, choices=choices
    )


@transaction.atomic
def attribute_update(
    *, attribute: Attribute, name: str | None = None, default: Any = ..., choices: Any = None
) -> Attribute:
    """Rename (the stored values follow), change the default or the choices. A choice some
    object still holds cannot go (409); the type and the label are fixed once made."""
    new_name, new_choices = _check_spec(
        project=attribute.project,
        name=attribute.name if name is None else name,
        type=attribute.type,
        default=attribute.default if default is ... else default,
        choices=attribute.choices if choices is None else choices,
        label=attribute.label,
    )
    objects = _objects_with(attribute)
    dropped = set(attribute.choices) - set(new_choices)
    in_use = sorted({a.attributes[attribute.name] for a in objects} & dropped)
    if in_use:
        raise Conflict(f"Objects still hold {', '.join(map(repr, in_use))}; change them first.")
    if new_name != attribute.name:
        if attribute.project.attributes.filter(name=new_name).exists():
            raise Conflict(f"The project already has an attribute {new_name!r}.")
        for a in objects:
            a.attributes[new_name] = a.attributes.pop(attribute.name)
        Annotation.objects.bulk_update(objects, ["attributes"], batch_size=500)
    attribute.name, attribute.choices = new_name, new_choices
    if default is not ...:
        attribute.default = default
    attribute.save()
    return attribute


@transaction.atomic
def attribute_delete(*, attribute: Attribute) -> None:
    """Delete the attribute and its value on every object (so no export carries a name the
    project no longer defines)."""
    objects = _objects_with(attribute)
    for a in objects:
        a.attributes.pop(attribute.name, None)
    Annotation.objects.bulk_update(objects, ["attributes"], batch_size=500)
    attribute.delete()


def _objects_with(attribute: Attribute) -> list[Annotation]:
    return list(
        Annotation.objects.filter(
            image__project_id=attribute.project_id, attributes__has_key=attribute.name
        ).only("id", "attributes")
    )
