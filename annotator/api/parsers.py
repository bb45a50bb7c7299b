"""Request body parsers: DRF's, with the hostile bodies they let through turned into 400s."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (NaN and Infinity refused), which only catches ValueError:
    "[[[[...]]]]" nested past Python's recursion limit raises RecursionError and was a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
