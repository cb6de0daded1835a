"""Request parsers (kept apart from exceptions.py: DRF imports the parser classes while it loads views)."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, with bodies nested too deep for Python's parser refused as a 400 (not a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):  # noqa: ANN001, ANN201 - DRF signature
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply") from exc
