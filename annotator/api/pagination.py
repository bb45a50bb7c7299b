"""Pagination of the API's lists."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from annotator import selectors
from annotator.models import Image


class Pagination(LimitOffsetPagination):
    """DRF's ?limit=&offset= pages (PAGE_SIZE by default), with the limit capped: uncapped, it
    went to the database as given, and ?limit=10**30 does not fit a 64-bit integer (a 500)."""

    max_limit = 1000


# --- The image list: offset pages for existing clients, keyset pages for the dataset page -------


class ImagePagination(Pagination):
    """Without `cursor`, the ?limit=&offset= pages above, with an exact `count` (both cost
    what the offset and the filtered set cost: fine for small projects and old clients).

    With `cursor` (empty for the first page), keyset pages: `next` and `previous` carry an
    opaque cursor naming the last (first) row's sort key and id, and the database starts the
    page there on the sort's index, so page 20,000 of a million images costs what page 1
    costs, and an image uploaded meanwhile neither shifts nor repeats rows. `count` is null:
    an exact count of a filtered million-row set scans it on every request; whether more rows
    follow is `next` being non-null.
    """

    cursor_query_param = "cursor"

    def paginate_images(
        self, images: QuerySet[Image], request: Request, *, ordering: str
    ) -> list[Image]:
        self.keyset = self.cursor_query_param in request.query_params
        if not self.keyset:
            return list(self.paginate_queryset(images, request) or [])
        self.request, self.ordering = request, ordering
        self.limit = self.get_limit(request) or self.max_limit
        token = request.query_params[self.cursor_query_param]
        position = _decode(token, ordering) if token else None
        backward = bool(position and position["b"])
        if position is None:
            rows = list(images[: self.limit + 1])
        else:
            rows = selectors.image_page_after(
                images=images, ordering=ordering, key=position["k"], limit=self.limit + 1,
                backward=backward,
            )  # fmt: skip
        more = len(rows) > self.limit
        rows = rows[: self.limit]
        if backward:
            rows.reverse()
        # Forward: a later page exists when a row beyond this one was found; an earlier one
        # whenever we came from a cursor. Backward: the other way round.
        has_next = bool(rows) and (more if not backward else True)
        has_previous = bool(rows) and (position is not None if not backward else more)
        self.next_token = self._token(rows[-1], backward=False) if has_next else None
        self.previous_token = self._token(rows[0], backward=True) if has_previous else None
        return rows

    def _token(self, image: Image, *, backward: bool) -> str:
        key = selectors.image_sort_value(image=image, ordering=self.ordering)
        key = [v.isoformat() if isinstance(v, datetime) else v for v in key]
        raw = json.dumps({"o": self.ordering, "k": key, "b": backward}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _link(self, token: str | None) -> str | None:
        if token is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(remove_query_param(url, "offset"), "cursor", token)

    def get_paginated_response(self, data: Any) -> Response:
        if not self.keyset:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": None,
                "next": self._link(self.next_token),
                "previous": self._link(self.previous_token),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        wrapped = super().get_paginated_response_schema(schema)
        count = wrapped["properties"]["count"]
        count["nullable"] = True
        count["description"] = "exact with ?limit=&offset=; null with ?cursor="
        return wrapped

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Keyset pages: empty for the first page, then the cursor from "
                "`next` or `previous`. Stable while images are added; `count` is null. "
                "A cursor belongs to one `ordering`; another one, or a damaged cursor, is 400.",
                "schema": {"type": "string"},
            },
        ]


def _decode(token: str, ordering: str) -> dict[str, Any]:
    """A cursor of _token, checked: any damage is a 400, never a 500 from the database."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        position = json.loads(raw)
        key, backward, other = position["k"], position["b"], position["o"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ParseError("Invalid cursor.") from None
    if other != ordering:
        raise ParseError("The cursor belongs to another ordering; start again without it.")
    valid = (
        isinstance(key, list)
        and isinstance(backward, bool)
        and len(key) == (1 if ordering.lstrip("-") == "id" else 2)
        and type(key[-1]) is int
        and -(2**63) < key[-1] < 2**63
        and all(isinstance(v, str) and len(v) <= 1000 for v in key[:-1])
    )
    if not valid:
        raise ParseError("Invalid cursor.")
    if ordering.lstrip("-") == "updated":
        try:
            key[0] = datetime.fromisoformat(key[0])
        except ValueError:
            raise ParseError("Invalid cursor.") from None
    return {"k": key, "b": backward}
