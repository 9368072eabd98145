"""REST view of a model's promotion policy: PUT, GET, DELETE /api/v1/models/{name}/policy.

The view parses JSON and calls monitoring.policies, which checks the policy and evaluates it off the
serving call. ``urlpatterns`` at the bottom is included by api/urls.py.
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from api.views.monitoring import CHANGE_MODEL, MonitoringView, _iso, errors
from catalogue import services as catalogue_services
from catalogue.errors import NotFound
from monitoring import policies
from monitoring.models import Policy

TAGS = ["monitoring"]

POLICY_BODY = {
    "application/json": {
        "type": "object",
        "properties": {
            "auto_promote": {
                "type": "object",
                "nullable": True,
                "description": "promote a challenger whose headline metric over the last `window` events scored "
                "by both beats production's by `min_improvement` (relative), with a one-sided paired t-test on "
                "the per-event losses significant at `confidence`",
                "properties": {
                    "window": {"type": "integer", "minimum": policies.MIN_WINDOW, "maximum": policies.MAX_WINDOW},
                    "min_improvement": {"type": "number", "minimum": 0, "example": 0.05},
                    "confidence": {
                        "type": "number",
                        "minimum": 0.5,
                        "maximum": 1,
                        "exclusiveMaximum": True,
                        "default": 0.95,
                    },
                },
                "required": ["window", "min_improvement"],
                "additionalProperties": False,
            },
            "auto_rollback": {
                "type": "object",
                "nullable": True,
                "description": "roll back when production's headline metric over its last `window` events is "
                "worse than over its previous `window` by more than `max_degradation` (relative), or when its "
                "drift detector fired in the window and the previous version scored better",
                "properties": {
                    "window": {"type": "integer", "minimum": policies.MIN_WINDOW, "maximum": policies.MAX_WINDOW},
                    "max_degradation": {"type": "number", "minimum": 0, "example": 0.2},
                },
                "required": ["window", "max_degradation"],
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }
}


def policy_data(policy: Policy) -> dict:
    return {
        "model": policy.model.name,
        "auto_promote": policy.auto_promote,
        "auto_rollback": policy.auto_rollback,
        "since_seq": policy.since_seq,
        "last_decision": {"at": _iso(policy.decided_at), "action": policy.decision, "details": policy.details}
        if policy.decided_at
        else None,
        "updated_by": policy.updated_by.get_username() if policy.updated_by else None,
        "updated_at": _iso(policy.updated_at),
    }


class PolicyView(MonitoringView):
    """A model's promotion policy; its automatic actions are deployment-history entries with their reason."""

    required_permissions = {
        "PUT": (CHANGE_MODEL, "setting a promotion policy"),
        "DELETE": (CHANGE_MODEL, "removing a promotion policy"),
    }

    def get_policy(self, name: str) -> Policy:
        policy = policies.policy_get(model=catalogue_services.get_model_or_404(name))
        if policy is None:
            raise NotFound(f"{name} has no promotion policy; PUT one")
        return policy

    @extend_schema(
        summary="A model's promotion policy and its last decision",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT, **errors(404)},
    )
    def get(self, request, name: str) -> Response:
        return Response(policy_data(self.get_policy(name)))

    @extend_schema(
        summary="Set (create or replace) a model's promotion policy",
        description="auto_promote, auto_rollback or both; windows count learn-log events. The policy is "
        "evaluated every RHYTHMIC_POLICY_EVAL_LEARNS learns and by Celery beat, on events learned after it is set.",
        tags=TAGS,
        request=POLICY_BODY,
        responses={200: OpenApiTypes.OBJECT, **errors(400, 403, 404)},
    )
    def put(self, request, name: str) -> Response:
        model = catalogue_services.get_model_or_404(name)
        policy = policies.policy_set(model=model, body=self.body(), user=request.user)
        return Response(policy_data(policy))

    @extend_schema(
        summary="Remove a model's promotion policy",
        tags=TAGS,
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, name: str) -> Response:
        if not policies.policy_delete(model=catalogue_services.get_model_or_404(name)):
            raise NotFound(f"{name} has no promotion policy")
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [path("models/<str:name>/policy", PolicyView.as_view(), name="model-policy")]
