"""Answers to OPTIONS: DRF's, for views that describe their bodies by hand (no serializer class) too."""

from rest_framework.metadata import SimpleMetadata


class Metadata(SimpleMetadata):
    """SimpleMetadata asserts a serializer class for its ``actions``; views without one answer without them."""

    def determine_actions(self, request, view) -> dict:
        if getattr(view, "serializer_class", None) is None:
            return {}
        return super().determine_actions(request, view)
