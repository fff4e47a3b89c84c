from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class DefaultCursorPagination(CursorPagination):
    """Cursor pagination keeps deep pages as fast as the first at millions of rows."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """A cursor that is not one of ours is bad input (400 naming the parameter), not a missing page (404)."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor: use the `next` or `previous` link."]})
