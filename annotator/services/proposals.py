"""Proposals: masks a machine offers (everything mode, auto-annotate, text prompts), kept or
dropped by a labeler. Only a kept proposal becomes an annotation, through annotation_create, so
the image's lock and review status guard it like any other write."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotator.models import Annotation, Image, Job, Label, Proposal
from annotator.services.annotations import annotation_create
from annotator.services.errors import Conflict, Invalid, ServiceError, User
from annotator.services.locks import check_not_locked_by_other
from annotator.services.review import check_writable

log = logging.getLogger(__name__)


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


def _check_pending(proposal: Proposal) -> None:
    # Before any other check: a decided proposal is a 409 whatever else the request says.
    if proposal.status != Proposal.Status.PENDING:
        raise Conflict(
            f"This proposal was already {proposal.status}; reload the image's proposals.",
            status=proposal.status,
        )


def _check_may_write(image: Image, user: User) -> None:
    # The same guards as an annotation write (lock, review status): a drop changes what the
    # labeler holding the image sees, so another user may not drop behind their back either.
    image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
    check_not_locked_by_other(image, user)
    check_writable(image=image, user=user)


def proposal_keep(*, proposal: Proposal, user: User, label: Label | None = None) -> Annotation:
    """Keep one proposal: it becomes an annotation with `label` (else its suggested label)."""
    _check_pending(proposal)
    label = label or proposal.label
    if label is None:
        raise Invalid(
            "Choose a label for this proposal: it has no suggested label, so send `label`."
        )
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
    _check_pending(proposal)
    _check_may_write(proposal.image, user)
    _claim(proposal, status=Proposal.Status.DROPPED, user=user)
    proposal.refresh_from_db()


def _inside(bbox: Sequence[float], box: Sequence[float]) -> bool:
    x, y, w, h = bbox
    x0, y0, x1, y1 = box
    return x0 <= x and y0 <= y and x + w <= x1 and y + h <= y1


def proposals_decide(
    *,
    image: Image,
    user: User,
    action: str,
    min_score: float | None = None,
    box: Sequence[float] | None = None,
    label: Label | None = None,
) -> dict[str, int]:
    """Keep or drop, all or nothing, every pending proposal of `image` scoring at least
    `min_score` and/or whose bbox lies inside `box` [x0, y0, x1, y1] (image pixels). Kept ones
    get `label`, else their suggested label. Returns {"kept"|"dropped": n, "skipped": n}, where
    skipped counts proposals another labeler decided meanwhile."""
    if action not in ("keep", "drop"):
        raise Invalid("`action` is keep or drop.")
    if min_score is None and box is None:
        raise Invalid("Give `min_score` and/or `box` to choose the proposals.")
    if label is not None and label.project_id != image.project_id:
        raise Invalid("The label belongs to another project.")
    _check_may_write(image, user)
    chosen = Proposal.objects.filter(image=image, status=Proposal.Status.PENDING)
    if min_score is not None:
        chosen = chosen.filter(score__gte=min_score)
    picked = [p for p in chosen.select_related("label") if box is None or _inside(p.bbox, box)]
    if action == "keep" and label is None:
        unlabelled = sum(1 for p in picked if p.label is None)
        if unlabelled:
            raise Invalid(
                f"Choose a label: {unlabelled} of these proposals have no suggested label, "
                "so send `label`."
            )
    done = skipped = 0
    with transaction.atomic():
        for proposal in picked:
            try:
                if action == "keep":
                    proposal_keep(proposal=proposal, user=user, label=label)
                else:
                    _claim(proposal, status=Proposal.Status.DROPPED, user=user)
            except Conflict:
                # Only a concurrent decision gets here (the image's lock and status were
                # checked above): the other labeler's choice stands.
                skipped += 1
                continue
            done += 1
    return {"kept" if action == "keep" else "dropped": done, "skipped": skipped}


def proposals_keep_above(
    *, proposals: Sequence[Proposal], threshold: float, user: User | None
) -> tuple[int, int]:
    """Keep at once, as `user` (a job's creator), the proposals scoring at least `threshold`; a
    proposal with no score (inline boxes) only when the threshold is 0. A keep the image's lock
    or review status refuses leaves the proposal pending for a labeler. Returns (kept, refused)."""
    kept = refused = 0
    if user is None:
        return kept, refused
    for proposal in proposals:
        score = proposal.score
        if (score is None and threshold > 0) or (score is not None and score < threshold):
            continue
        if proposal.label is None:
            refused += 1  # nothing to label it with: the labeler chooses
            continue
        try:
            proposal_keep(proposal=proposal, user=user)
        except ServiceError as exc:
            log.info("proposal %s left pending: %s", proposal.pk, exc)
            refused += 1
        else:
            kept += 1
    return kept, refused


def proposals_offer(
    *, job: Job, image: Image, items: Iterable[ProposalIn], source: str
) -> tuple[int, int, int]:
    """A job's masks for one image, stored as proposals created by the job's creator; with the
    job's `keep_above`, those scoring at least that are kept at once. Returns (proposed, kept,
    refused): refused keeps stay pending and are logged, never fatal to the job."""
    made = proposals_create(
        image=image, items=items, source=source, created_by=job.created_by, job=job
    )
    threshold = job.params.get("keep_above")
    kept = refused = 0
    if threshold is not None:
        kept, refused = proposals_keep_above(
            proposals=made, threshold=float(threshold), user=job.created_by
        )
    if refused:
        log.info("job %s: %s proposals on image %s left pending", job.pk, refused, image.pk)
    return len(made), kept, refused
