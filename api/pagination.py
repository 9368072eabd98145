"""The list routes' pagination: ``?limit=`` and ``?offset=`` are checked, so a bad value is a 400, not a 500."""

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination

from catalogue.errors import InvalidInput

# The largest OFFSET both databases take (a signed 64-bit integer).
MAX_OFFSET = 2**63 - 1


def _whole_number(raw: str, *, field: str, low: int, high: int) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise InvalidInput(f"{field} must be a whole number from {low} to {high}; got {raw[:40]!r}", field=field)
    return int(text)


class Pagination(LimitOffsetPagination):
    """DRF's limit/offset pagination; ``limit`` is 1 to RHYTHMIC_MAX_PAGE_SIZE, ``offset`` 0 or more."""

    def get_limit(self, request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return _whole_number(raw, field=self.limit_query_param, low=1, high=settings.RHYTHMIC_MAX_PAGE_SIZE)

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _whole_number(raw, field=self.offset_query_param, low=0, high=MAX_OFFSET)
