"""Proposals over HTTP: an image's pending masks, kept (they become annotations) or dropped,
one by one or in bulk. The rules (lock, review status, 409 once decided) live in
services/proposals.py."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.serializers import proposals as ps
from annotator.api.views.base import PaginatedView, image_for
from annotator.models import Image, Label, Proposal
from annotator.permissions import Can, require


def _proposal_for(request: Request, pk: int, capability: Can) -> Proposal:
    # Found through the caller's memberships: another project's id is a 404, like no id.
    proposal = selectors.proposals_visible_to(user=request.user).filter(pk=pk).first()
    if proposal is None:
        raise Http404("Not found.")
    require(request.user, proposal.image.project_id, capability)
    return proposal


def _label(image: Image, label_id: int | None) -> Label | None:
    if label_id is None:
        return None
    label = selectors.label_of(project=image.project, pk=label_id)
    if label is None:
        raise services.Invalid(f"Label {label_id} is not a label of this project.")
    return label


class ImageProposalListView(PaginatedView):
    serializer_class = ps.ProposalSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=[*Proposal.Status.values, "all"], description="default pending"
            )
        ]
    )
    def get(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.READ)
        query = ps.ProposalListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        status = query.validated_data["status"]
        return self.paginated(
            selectors.proposal_list(image=image, status=None if status == "all" else status)
        )


class ImageProposalBulkView(APIView):
    """Keep or drop every pending proposal of the image scoring at least `min_score` and/or
    lying inside `box`, all or nothing."""

    @extend_schema(
        request=ps.ProposalBulkSerializer, responses={200: ps.ProposalBulkResultSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        data = ps.ProposalBulkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.proposals_decide(
            image=image,
            user=request.user,
            action=v["action"],
            min_score=v.get("min_score"),
            box=v.get("box"),
            label=_label(image, v.get("label")),
        )
        return Response(result)


class ProposalKeepView(APIView):
    """The proposal becomes an annotation, with `label` or else its suggested label."""

    @extend_schema(request=ps.ProposalKeepSerializer, responses={200: ps.ProposalKeptSerializer})
    def post(self, request: Request, pk: int) -> Response:
        proposal = _proposal_for(request, pk, Can.ANNOTATE)
        data = ps.ProposalKeepSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = _label(proposal.image, data.validated_data.get("label"))
        annotation = services.proposal_keep(proposal=proposal, user=request.user, label=label)
        return Response(
            ps.ProposalKeptSerializer({"proposal": proposal, "annotation": annotation}).data
        )


class ProposalDropView(APIView):
    @extend_schema(request=None, responses={200: ps.ProposalSerializer})
    def post(self, request: Request, pk: int) -> Response:
        proposal = _proposal_for(request, pk, Can.ANNOTATE)
        services.proposal_drop(proposal=proposal, user=request.user)
        return Response(ps.ProposalSerializer(proposal).data)
