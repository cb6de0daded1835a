"""Limit/offset pagination that skips the ``COUNT(*)`` query when the page itself tells the count."""

from __future__ import annotations

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's ``?limit=&offset=`` pagination with the same response, one query fewer on short lists.

    DRF counts every list before fetching its page. This fetches the page plus one row first: when that
    extra row is absent and the page is not past the end, the count is ``offset + len(page)`` and no
    ``COUNT(*)`` runs. A review queue or a case's images usually fit on one page, so most list requests
    make one query instead of two (docs/reliability.md, section 6).
    """

    def paginate_queryset(self, queryset, request, view=None):  # noqa: ANN001, ANN201 - DRF signature
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        rows = list(queryset[self.offset:self.offset + self.limit + 1])
        if len(rows) <= self.limit and (rows or self.offset == 0):
            self.count = self.offset + len(rows)
        else:
            self.count = self.get_count(queryset)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows[:self.limit]
