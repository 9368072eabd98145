"""DRF's content negotiation, with the common case answered before any parsing.

Nearly every API call sends ``Accept: */*`` (requests, curl) or no Accept (http.client), or asks for JSON: the
answer is then the view's first renderer, as DRF's own negotiation would choose, without parsing the header
and matching it against every renderer on each call (a few percent of a predict).
"""

from rest_framework.negotiation import DefaultContentNegotiation

#: Accept headers whose answer is the first renderer: any type, or the first renderer's own type.
_ANY = "*/*"


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if renderers and not format_suffix and (self.settings.URL_FORMAT_OVERRIDE is None or not request.GET):
            first = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", _ANY)
            if accept == _ANY or accept == first.media_type:
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
