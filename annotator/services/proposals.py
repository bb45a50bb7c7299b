"""Proposals: masks a machine offers (everything mode, auto-annotate, text prompts), kept or
dropped by a labeler. Only a kept proposal becomes an annotation, through annotation_create, so
the image's lock and review status guard it like any other write."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotator.models import Annotation, Image, Job, Label, Proposal
from annotator.services.annotations import annotation_create
from annotator.services.errors import Conflict, Invalid, User


@dataclass(frozen=True)
class ProposalIn:
    """One mask to offer: its COCO RLE in the image's pixels and what produced it."""

    rle: dict[str, Any]
    score: float | None = None
    label: Label | None = None
    phrase: str = ""
    prompts: dict[str, Any] = field(default_factory=dict)


def proposals_create(
    *,
    image: Image,
    items: Iterable[ProposalIn],
    source: str,
    created_by: User | None,
    job: Job | None = None,
) -> list[Proposal]:
    """Store masks as pending proposals of one image; empty masks are skipped (a detector's box
    over nothing), a mask of another frame size is refused."""
    # pycocotools: loaded by the worker writing proposals, not at web process start.
    from annotator import geometry

    if source not in Proposal.Source.values:
        raise Invalid(f"Unknown proposal source {source!r}.")
    rows = []
    for item in items:
        if list(item.rle.get("size", [])) != [image.height, image.width]:
            raise Invalid(f"rle.size must be [{image.height}, {image.width}].")
        if item.label is not None and item.label.project_id != image.project_id:
            raise Invalid("The label belongs to another project.")
        mask = geometry.rle_to_mask(item.rle)
        area = float(geometry.mask_area(mask))
        if area <= 0:
            continue
        rows.append(
            Proposal(
                image=image,
                job=job,
                source=source,
                label=item.label,
                phrase=item.phrase[:200],
                rle=geometry.mask_to_rle(mask),
                bbox=[float(v) for v in geometry.mask_bbox(mask)],
                area=area,
                score=item.score,
                prompts=item.prompts,
                created_by=created_by,
            )
        )
    return Proposal.objects.bulk_create(rows)


def _claim(proposal: Proposal, *, status: str, user: User) -> None:
    # A conditional UPDATE: of two labelers deciding the same proposal at once, one wins and
    # the other gets 409 instead of a second annotation.
    claimed = Proposal.objects.filter(pk=proposal.pk, status=Proposal.Status.PENDING).update(
        status=status, decided_by=user, decided_at=timezone.now()
    )
    if not claimed:
        raise Conflict("This proposal was already kept or dropped; reload the image's proposals.")


def proposal_keep(*, proposal: Proposal, user: User, label: Label | None = None) -> Annotation:
    """Keep one proposal: it becomes an annotation with `label` (else its suggested label)."""
    label = label or proposal.label
    if label is None:
        raise Invalid("Choose a label for this proposal.")
    with transaction.atomic():
        _claim(proposal, status=Proposal.Status.KEPT, user=user)
        annotation = annotation_create(
            image=proposal.image,
            label=label,
            created_by=user,
            rle=proposal.rle,
            source=Annotation.Source.AUTO,
            score=proposal.score,
            prompts={**proposal.prompts, "proposal": proposal.pk, "mode": proposal.source},
        )
        Proposal.objects.filter(pk=proposal.pk).update(annotation=annotation)
    proposal.refresh_from_db()
    return annotation


def proposal_drop(*, proposal: Proposal, user: User) -> None:
    _claim(proposal, status=Proposal.Status.DROPPED, user=user)
