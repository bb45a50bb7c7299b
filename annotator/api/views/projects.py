"""Projects, members and labels."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import PaginatedView, project_for
from annotator.models import Membership, Project
from annotator.permissions import CAPABILITIES, Can


def _roles(request: Request) -> dict[int, str]:
    return selectors.roles_of(user=request.user)


class ProjectListView(PaginatedView):
    serializer_class = s.ProjectSerializer

    @extend_schema(parameters=[s.ProjectListQuerySerializer])
    def get(self, request: Request) -> Response:
        query = s.ProjectListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        projects = selectors.project_list_shown(
            user=request.user, archived=query.validated_data["archived"]
        ).prefetch_related("labels")
        return self.paginated(projects, roles=_roles(request))

    @extend_schema(request=s.ProjectCreateSerializer, responses={201: s.ProjectSerializer})
    def post(self, request: Request) -> Response:
        data = s.ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        project = services.project_create(
            name=v["name"],
            description=v["description"],
            created_by=request.user,
            labels=[(lb["name"], lb["color"], lb["kind"]) for lb in v.get("labels", [])],
            sam_checkpoint=v.get("sam_checkpoint"),
        )
        body = s.ProjectSerializer(project, context={"roles": _roles(request)}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    serializer_class = s.ProjectSerializer

    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return Response(s.ProjectSerializer(project, context={"roles": _roles(request)}).data)

    @extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        # Only the archive switch gets through on an archived project (its unarchiving).
        only_archive = isinstance(request.data, dict) and set(request.data) == {"archived"}
        project, role = project_for(request, pk, Can.MANAGE, archived_ok=only_archive)
        # A manager edits the description; renaming is the owner's (permissions.Can.OWN), as
        # deleting is. Checked before the body, so a manager learns nothing from a 400.
        renames = isinstance(request.data, dict) and "name" in request.data
        if renames and Can.OWN not in CAPABILITIES[role]:
            raise PermissionDenied(
                "Renaming a project needs its owner; a manager may edit the description."
            )
        data = s.ProjectUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        archived = v.pop("archived", None)
        if archived is not None:
            project = services.project_archive(project=project, archived=archived)
        allow_self_review = v.pop("allow_self_review", None)
        if allow_self_review is not None:
            project_for(request, pk, Can.OWN)
            project = services.project_allow_self_review(project=project, allow=allow_self_review)
        if v:
            project = services.project_update(project=project, **v)
        return Response(s.ProjectSerializer(project, context={"roles": _roles(request)}).data)

    def delete(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.OWN, archived_ok=True)
        services.project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(PaginatedView):
    serializer_class = s.MembershipSerializer

    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return self.paginated(selectors.membership_list(project=project))

    @extend_schema(request=s.MembershipWriteSerializer, responses={201: s.MembershipSerializer})
    def post(self, request: Request, pk: int) -> Response:
        project, role = project_for(request, pk, Can.MANAGE)
        data = s.MembershipWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        user = services.member_find(
            by=request.user, name=v.get("username") or v.get("email"), user_id=v.get("user")
        )
        membership = services.membership_set(
            project=project, user=user, role=v["role"], by_role=role
        )
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    serializer_class = s.MembershipSerializer

    def _membership(self, project: Project, user_id: int) -> Membership:
        return get_object_or_404(selectors.membership_list(project=project), user_id=user_id)

    @extend_schema(request=s.MembershipRoleSerializer, responses=s.MembershipSerializer)
    def patch(self, request: Request, pk: int, user_id: int) -> Response:
        project, role = project_for(request, pk, Can.MANAGE)
        membership = self._membership(project, user_id)
        data = s.MembershipRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(
            project=project, user=membership.user, role=data.validated_data["role"], by_role=role
        )
        return Response(s.MembershipSerializer(membership).data)

    def delete(self, request: Request, pk: int, user_id: int) -> Response:
        project, role = project_for(request, pk, Can.MANAGE)
        services.membership_remove(membership=self._membership(project, user_id), by_role=role)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelListView(PaginatedView):
    serializer_class = s.LabelSerializer

    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return self.paginated(selectors.label_list(project=project))

    @extend_schema(request=s.LabelInputSerializer, responses={201: s.LabelSerializer})
    def post(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        data = s.LabelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = services.label_create(project=project, **data.validated_data)
        return Response(s.LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetailView(APIView):
    serializer_class = s.LabelSerializer

    @extend_schema(request=s.LabelUpdateSerializer, responses=s.LabelSerializer)
    def patch(self, request: Request, pk: int, label_id: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        label = get_object_or_404(selectors.label_list(project=project), pk=label_id)
        data = s.LabelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = services.label_update(label=label, **data.validated_data)
        return Response(s.LabelSerializer(label).data)

    def delete(self, request: Request, pk: int, label_id: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        services.label_delete(
            label=get_object_or_404(selectors.label_list(project=project), pk=label_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectStatsView(APIView):
    """The dashboard's counts (selectors.project_stats), for anyone who can see the project."""

    serializer_class = s.ProjectStatsSerializer

    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return Response(s.ProjectStatsSerializer(selectors.project_stats(project=project)).data)
