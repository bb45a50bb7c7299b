"""Proposals: stored apart from annotations, and only a kept one becomes an annotation."""

from __future__ import annotations

import numpy as np
import pytest

from annotator import services
from annotator.geometry import mask_to_rle
from annotator.models import Annotation, Proposal, Role
from tests import factories as f

pytestmark = pytest.mark.django_db


def _rle(h: int, w: int, box: tuple[int, int, int, int]) -> dict:
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask_to_rle(mask)


def test_proposals_are_not_annotations_until_kept() -> None:
    project = f.project()
    img = f.image(project)
    owner = project.memberships.get(role=Role.OWNER).user
    cat = project.labels.get(name="cat")
    made = services.proposals_create(
        image=img,
        items=[
            services.ProposalIn(rle=_rle(img.height, img.width, (2, 2, 12, 12)), score=0.9),
            services.ProposalIn(rle=_rle(img.height, img.width, (0, 0, 0, 0)), score=0.5),
            services.ProposalIn(rle=_rle(img.height, img.width, (20, 5, 30, 9)), label=cat),
        ],
        source=Proposal.Source.EVERYTHING,
        created_by=owner,
    )
    assert len(made) == 2  # the empty mask is skipped
    assert made[0].area == 100 and made[0].bbox == [2.0, 2.0, 10.0, 10.0]
    assert not Annotation.objects.filter(image=img).exists()

    with pytest.raises(services.Invalid, match="Choose a label"):
        services.proposal_keep(proposal=made[0], user=owner)
    kept = services.proposal_keep(proposal=made[1], user=owner)
    assert kept.label == cat and kept.area == 40
    assert Proposal.objects.get(pk=made[1].pk).annotation_id == kept.pk
    with pytest.raises(services.Conflict):
        services.proposal_keep(proposal=made[1], user=owner, label=cat)
    services.proposal_drop(proposal=made[0], user=owner)
    assert Proposal.objects.get(pk=made[0].pk).status == Proposal.Status.DROPPED
    assert Annotation.objects.filter(image=img).count() == 1


def test_a_mask_of_another_frame_is_refused() -> None:
    project = f.project()
    img = f.image(project)
    with pytest.raises(services.Invalid, match="rle.size"):
        services.proposals_create(
            image=img,
            items=[services.ProposalIn(rle=_rle(10, 10, (1, 1, 3, 3)))],
            source=Proposal.Source.TEXT,
            created_by=None,
        )
