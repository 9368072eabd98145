"""Shared pieces of the catalogue admin: service errors shown as messages, action runner."""

from django.contrib import messages
from django.http import HttpResponseRedirect

from catalogue.errors import RhythmicError

EXTENSIONS = {"dill": "dill", "pickle": "pkl", "joblib": "joblib", "onnx": "onnx"}


class ServiceErrorsAsMessages:
    """A service refusing a save or delete shows its message on the page it came from, never a 500.

    The admin wraps these views in a transaction, so the exception also rolls back anything half done.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RhythmicError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except RhythmicError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def _copy_saved(target, saved) -> None:
    """Give the admin's unsaved form instance the identity of the row a service created (for logs, redirects)."""
    for field in saved._meta.concrete_fields:
        if field.attname in saved.get_deferred_fields():
            continue
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False


def _run(modeladmin, request, label: str, call):
    """Run one service call for an action: its result, or None after an error message naming the object."""
    try:
        return call()
    except RhythmicError as exc:
        modeladmin.message_user(request, f"{label}: {exc.message}", messages.ERROR)
        return None


# --- locations ------------------------------------------------------------------------------------
