"""REST views of monitoring under /api/v1/ (metric history, alert rules, alerts) and the Prometheus /metrics.

Each view parses input, calls one monitoring service or selector, and formats the result. ``urlpatterns``
at the bottom is included by api/urls.py.
"""

import hmac
import re
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.errors import json_error
from api.parsers import JSONParser
from api.permissions import ModelPermission, requires
from api.routes import with_slash
from api.serializers import ErrorSerializer
from catalogue import selectors as catalogue_selectors
from catalogue import services as catalogue_services
from catalogue.errors import InvalidInput, NotFound
from catalogue.models import MLModel
from monitoring import prometheus, selectors, services
from monitoring.models import Alert, AlertRule, DriftPoint, MetricSnapshot, WebhookDelivery

TAGS = ["monitoring"]
CHANGE_MODEL = "catalogue.change_mlmodel"
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "bad input; the message says what to fix"),
        (401, "not logged in (send Authorization: Token <key>)"),
        (403, "missing the permission the message names"),
        (404, "no such model, rule or alert"),
        (409, "the alert's state forbids it"),
        (429, "throttled: retry after Retry-After seconds"),
    )
}


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 429, *codes)}


class MonitoringView(GenericAPIView):
    """Login for reads, catalogue.change_mlmodel for writes, JSON bodies only."""

    permission_classes = [IsAuthenticated, ModelPermission]
    required_permissions: dict[str, tuple[str, str]] = {}
    parser_classes = [JSONParser]

    def body(self) -> dict:
        if not isinstance(self.request.data, dict):
            raise InvalidInput("the body must be a JSON object")
        return self.request.data

    def page(self, queryset, formatter) -> Response:
        items = self.paginate_queryset(queryset)
        return self.get_paginated_response([formatter(item) for item in items])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _model_query(request) -> MLModel | None:
    name = request.query_params.get("model")
    if name is None:
        return None
    model = catalogue_selectors.model_get(name=name)
    if model is None:
        raise InvalidInput(f"model: no model named {name!r}", field="model")
    return model


# --- metric history ------------------------------------------------------------------------------


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    # An unencoded "+01:00" arrives as " 01:00": a query string turns "+" into a space.
    text = re.sub(r" (\d\d(:?\d\d)?)$", r"+\1", raw.strip())
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInput(
            f"since must be an ISO 8601 date and time, like 2025-01-31T12:00:00Z (encode + as %2B); got {raw!r}",
            field="since",
        )
    if timezone.is_naive(parsed):
        return parsed.replace(tzinfo=UTC)
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 (and parse_datetime) allow.
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"since is out of range: {raw!r}", field="since") from None


def _version_number(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"version must be a version number (1, 2, 3...), not {raw!r}", field="version")
    return int(raw)


def snapshot_data(snapshot: MetricSnapshot) -> dict:
    return {
        "version": snapshot.version.number,
        "state_seq": snapshot.state_seq,
        "n_learned": snapshot.n_learned,
        "metrics": snapshot.metrics,
        "stats": snapshot.stats,
        "at": _iso(snapshot.created_at),
    }


def drift_data(point: DriftPoint) -> dict:
    return {
        "version": point.version.number,
        "seq": point.seq,
        "n_drifts": point.n_drifts,
        "at": _iso(point.detected_at),
    }


class HistoryView(MonitoringView):
    """The online metrics of a model's versions over time, with the drifts detected."""

    @extend_schema(
        summary="Metric history of a model (snapshots oldest first) and its drift points",
        tags=TAGS,
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="only points at or after this time"),
            OpenApiParameter("version", OpenApiTypes.INT, description="only this version's points"),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(400, 404)},
    )
    def get(self, request, name: str) -> Response:
        model = catalogue_services.get_model_or_404(name)
        since = _since(request.query_params.get("since"))
        version = _version_number(request.query_params.get("version"))
        if version is not None and catalogue_selectors.version_get(model=model, number=version) is None:
            raise NotFound(f"{name} has no version {version}", field="version")
        limit = settings.RHYTHMIC_HISTORY_MAX_POINTS
        snapshots = selectors.snapshot_list(model=model, since=since, version=version, limit=limit + 1)
        truncated = len(snapshots) > limit
        if truncated:
            snapshots = snapshots[1:]
        return Response(
            {
                "model": name,
                "version": version,
                "since": _iso(since),
                "truncated": truncated,  # true: only the newest RHYTHMIC_HISTORY_MAX_POINTS are listed
                "snapshots": [snapshot_data(snapshot) for snapshot in snapshots],
                "drifts": [drift_data(p) for p in selectors.drift_list(model=model, since=since, version=version)],
            }
        )


# --- alert rules ---------------------------------------------------------------------------------


def rule_data(rule: AlertRule) -> dict:
    return {
        "id": rule.pk,
        "model": rule.model.name,
        "name": rule.name,
        "signal": rule.signal,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "window_seconds": rule.window_seconds,
        "webhook_url": rule.webhook_url,
        "enabled": rule.enabled,
        "created_by": rule.created_by.get_username() if rule.created_by else None,
        "created_at": _iso(rule.created_at),
        "updated_at": _iso(rule.updated_at),
    }


RULE_BODY = {
    "application/json": {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "name": {"type": "string"},
            "signal": {"type": "string", "example": "metric:MAE"},
            "comparison": {"type": "string", "enum": [">", ">=", "<", "<="]},
            "threshold": {"type": "number"},
            "window_seconds": {"type": "integer", "default": 300},
            "webhook_url": {"type": "string", "format": "uri"},
            "enabled": {"type": "boolean", "default": True},
        },
        "additionalProperties": False,
    }
}
CREATE_FIELDS = ("model", *services.RULE_FIELDS)
REQUIRED_FIELDS = ("model", "name", "signal", "comparison", "threshold")
CREATE_RULE_BODY = {"application/json": {**RULE_BODY["application/json"], "required": list(REQUIRED_FIELDS)}}
# A rule's model cannot change.
CHANGE_RULE_BODY = {
    "application/json": {
        **RULE_BODY["application/json"],
        "properties": {k: v for k, v in RULE_BODY["application/json"]["properties"].items() if k != "model"},
    }
}


class AlertRuleListView(MonitoringView):
    """Alert rules: a condition on a model's signal; firing alerts are published live and POSTed to a webhook."""

    required_permissions = requires(CHANGE_MODEL, "creating an alert rule")

    @extend_schema(
        summary="List the alert rules (?model= for one model's)",
        operation_id="v1_alert_rules_list",  # not a ListAPIView: spectacular would call it _retrieve, like the detail
        tags=TAGS,
        parameters=[OpenApiParameter("model", OpenApiTypes.STR)],
        responses={200: OpenApiTypes.OBJECT, **errors(400)},
    )
    def get(self, request) -> Response:
        return self.page(selectors.alert_rule_list(model=_model_query(request)), rule_data)

    @extend_schema(
        summary="Create an alert rule",
        description=(
            "signal: metric:<name> (an online metric of the production version), latency_p99 (seconds), "
            "error_rate (0 to 1), lag (learn-log entries), drift (drift points in the window) or non_finite "
            "(1 once the production version predicted NaN or infinity, else 0)."
        ),
        tags=TAGS,
        request=CREATE_RULE_BODY,
        responses={201: OpenApiTypes.OBJECT, **errors(400, 403)},
    )
    def post(self, request) -> Response:
        body = self.body()
        unknown = sorted(set(body) - set(CREATE_FIELDS))
        if unknown:
            raise InvalidInput(f"unknown field {unknown[0]!r}; a rule has {', '.join(CREATE_FIELDS)}", field=unknown[0])
        missing = [field for field in REQUIRED_FIELDS if field not in body]
        if missing:
            raise InvalidInput(f"{', '.join(missing)} required", field=missing[0])
        rule = services.alert_rule_create(**body, created_by=request.user)
        return Response(rule_data(rule), status=status.HTTP_201_CREATED)


class AlertRuleDetailView(MonitoringView):
    required_permissions = {
        "PATCH": (CHANGE_MODEL, "changing an alert rule"),
        "DELETE": (CHANGE_MODEL, "deleting an alert rule"),
    }

    def get_rule(self) -> AlertRule:
        rule = selectors.alert_rule_get(pk=self.kwargs["pk"])
        if rule is None:
            raise NotFound(f"no alert rule {self.kwargs['pk']}")
        return rule

    @extend_schema(summary="An alert rule", tags=TAGS, responses={200: OpenApiTypes.OBJECT, **errors(404)})
    def get(self, request, pk: int) -> Response:
        return Response(rule_data(self.get_rule()))

    @extend_schema(
        summary="Change an alert rule (any of its fields but model); disabling it resolves its open alert",
        tags=TAGS,
        request=CHANGE_RULE_BODY,
        responses={200: OpenApiTypes.OBJECT, **errors(400, 403, 404)},
    )
    def patch(self, request, pk: int) -> Response:
        body = self.body()
        unknown = sorted(set(body) - set(services.RULE_FIELDS))
        if unknown:  # before the call: a body key like "rule" must not collide with its arguments
            raise InvalidInput(
                f"cannot change {unknown[0]!r}; a rule's changeable fields are {', '.join(services.RULE_FIELDS)}",
                field=unknown[0],
            )
        rule = services.alert_rule_update(rule=self.get_rule(), **body)
        return Response(rule_data(rule))

    @extend_schema(summary="Delete an alert rule and its alerts", tags=TAGS, responses={204: None, **errors(403, 404)})
    def delete(self, request, pk: int) -> Response:
        services.alert_rule_delete(rule=self.get_rule())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- alerts --------------------------------------------------------------------------------------


def alert_data(alert: Alert) -> dict:
    event = services.alert_event(alert)
    event.pop("type")
    event["id"] = event.pop("alert_id")
    return event


class AlertListView(MonitoringView):
    @extend_schema(
        summary="List alerts, newest first (?state=firing|acknowledged|resolved, ?model=)",
        tags=TAGS,
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=Alert.State.values),
            OpenApiParameter("model", OpenApiTypes.STR),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(400)},
    )
    def get(self, request) -> Response:
        state = request.query_params.get("state")
        if state is not None and state not in Alert.State.values:
            raise InvalidInput(f"state must be one of {', '.join(Alert.State.values)}; got {state!r}", field="state")
        return self.page(selectors.alert_list(state=state, model=_model_query(request)), alert_data)


class AcknowledgeView(MonitoringView):
    required_permissions = requires(CHANGE_MODEL, "acknowledging an alert")

    @extend_schema(
        summary="Acknowledge a firing alert: it stays open, without notifying again, until it resolves",
        tags=TAGS,
        request=None,
        responses={200: OpenApiTypes.OBJECT, **errors(403, 404, 409)},
    )
    def post(self, request, pk: int) -> Response:
        alert = selectors.alert_get(pk=pk)
        if alert is None:
            raise NotFound(f"no alert {pk}")
        return Response(alert_data(services.alert_acknowledge(alert=alert, user=request.user)))


def delivery_data(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.pk,
        "alert_id": delivery.alert_id,
        "model": delivery.alert.rule.model.name,
        "rule": delivery.alert.rule.name,
        "state": delivery.event.get("state"),
        "url": delivery.url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": _iso(delivery.created_at),
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "delivered_at": _iso(delivery.delivered_at),
    }


class WebhookDeliveryListView(MonitoringView):
    @extend_schema(
        summary="List alert webhook deliveries, newest first (?alert=<id>, ?status=pending|succeeded|failed, ?model=)",
        tags=TAGS,
        parameters=[
            OpenApiParameter("alert", OpenApiTypes.INT),
            OpenApiParameter("status", OpenApiTypes.STR, enum=WebhookDelivery.Status.values),
            OpenApiParameter("model", OpenApiTypes.STR),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(400)},
    )
    def get(self, request) -> Response:
        status_ = request.query_params.get("status")
        if status_ is not None and status_ not in WebhookDelivery.Status.values:
            raise InvalidInput(
                f"status must be one of {', '.join(WebhookDelivery.Status.values)}; got {status_!r}", field="status"
            )
        alert = request.query_params.get("alert")
        if alert is not None:
            if not alert.isascii() or not alert.isdigit() or len(alert) > 18:
                raise InvalidInput(f"alert must be an alert id, like 12; got {alert!r}", field="alert")
            alert = int(alert)
        deliveries = selectors.webhook_delivery_list(alert=alert, status=status_, model=_model_query(request))
        return self.page(deliveries, delivery_data)


# --- Prometheus ----------------------------------------------------------------------------------


def prometheus_metrics(request) -> HttpResponse:
    """GET /metrics in Prometheus' text format; with RHYTHMIC_METRICS_TOKEN set, only for its bearer."""
    if request.method != "GET":
        return json_error("method_not_allowed", "/metrics answers GET only", status.HTTP_405_METHOD_NOT_ALLOWED)
    token = settings.RHYTHMIC_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = json_error(
                "not_authenticated",
                "/metrics needs Authorization: Bearer <RHYTHMIC_METRICS_TOKEN> (set it in Prometheus' scrape config)",
                status.HTTP_401_UNAUTHORIZED,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(prometheus.render(), content_type=prometheus.CONTENT_TYPE)


# --- routes --------------------------------------------------------------------------------------


urlpatterns = [
    path("models/<str:name>/metrics/history", HistoryView.as_view(), name="metrics-history"),
    path("alert-rules/", AlertRuleListView.as_view(), name="alert-rule-list"),
    path("alert-rules", with_slash),
    path("alert-rules/<int:pk>/", AlertRuleDetailView.as_view(), name="alert-rule-detail"),
    path("alert-rules/<int:pk>", with_slash),
    path("alerts/", AlertListView.as_view(), name="alert-list"),
    path("alerts", with_slash),
    path("alerts/<int:pk>/acknowledge", AcknowledgeView.as_view(), name="alert-acknowledge"),
    path("webhook-deliveries/", WebhookDeliveryListView.as_view(), name="webhook-delivery-list"),
    path("webhook-deliveries", with_slash),
]
