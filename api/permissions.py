"""Who may do what through the REST API: reading needs a login, each write a Django model permission.

A view lists, per HTTP method, the permission a write needs and a phrase naming the action; a refusal
answers 403 with a message naming that permission, so the user knows what to ask an administrator for.
"""

from django.conf import settings
from rest_framework.permissions import BasePermission

#: The inference rule, written once for every transport (REST, chantilly routes, the streaming socket).
INFER_PERMISSION = "catalogue.infer_mlmodel"
INFER_REFUSAL = f"predict and learn need the {INFER_PERMISSION} permission"


def may_infer(user) -> bool:
    """Whether ``user`` may predict and learn: with catalogue.infer_mlmodel, or anyone if RHYTHMIC_PUBLIC_INFERENCE."""
    if settings.RHYTHMIC_PUBLIC_INFERENCE:
        return True
    return bool(user and user.has_perm(INFER_PERMISSION))


class CanInfer(BasePermission):
    """predict and learn need catalogue.infer_mlmodel, unless RHYTHMIC_PUBLIC_INFERENCE=1."""

    message = INFER_REFUSAL

    def has_permission(self, request, view) -> bool:
        return may_infer(request.user)


class ModelPermission(BasePermission):
    """Checks ``view.required_permissions[request.method] = ("app.codename", "what it allows")``.

    Methods missing from the mapping (reads) need only a login, which ``IsAuthenticated`` checks first
    so that an anonymous client gets 401, not 403.
    """

    message = "you do not have permission to do this"

    def has_permission(self, request, view) -> bool:
        required = getattr(view, "required_permissions", {}).get(request.method)
        if required is None:  # a read, or a method the view does not have (405 follows)
            return True
        permission, action = required
        if request.user and request.user.has_perm(permission):
            return True
        # A new instance checks each request (DRF's get_permissions), so setting the message is safe.
        self.message = f"{action} needs the {permission} permission"
        return False


def requires(permission: str, action: str, *, methods: tuple[str, ...] = ("POST",)) -> dict[str, tuple[str, str]]:
    """``required_permissions`` for a view: ``requires("catalogue.change_mlmodel", "promoting")``."""
    return {method: (permission, action) for method in methods}
