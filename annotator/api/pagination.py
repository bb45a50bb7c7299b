"""Pagination of the API's lists."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """DRF's ?limit=&offset= pages (PAGE_SIZE by default), with the limit capped: uncapped, it
    went to the database as given, and ?limit=10**30 does not fit a 64-bit integer (a 500)."""

    max_limit = 1000
