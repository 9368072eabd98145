"""Throttles: failed token authentications per client address, and optional request rates for the API.

DRF's rate throttles, with rates read from settings at each request (so a change applies at once) and
counts kept in the ``throttle`` cache (Redis when REDIS_URL is set: shared by every server process).
A refusal is DRF's ``Throttled``: 429 with ``Retry-After``, in the API's error shape.
"""

from django.conf import settings
from django.core.cache import caches
from rest_framework import throttling
from rest_framework.exceptions import Throttled


def client_address(request) -> str:
    """The client's address: the socket's peer, or behind RHYTHMIC_NUM_PROXIES proxies the address they saw.

    X-Forwarded-For is read only when proxies are declared: a client could write any address in it.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = settings.RHYTHMIC_NUM_PROXIES
    if proxies > 0 and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


class _Configured:
    """A rate from the setting named by ``setting`` ("30/min"; empty: no limit), counted in the throttle cache."""

    setting = ""

    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self) -> str | None:
        return getattr(settings, self.setting) or None

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonThrottle(_Configured, throttling.AnonRateThrottle):
    """Requests without credentials, per client address (RHYTHMIC_THROTTLE_ANON)."""

    setting = "RHYTHMIC_THROTTLE_ANON"


class UserThrottle(_Configured, throttling.UserRateThrottle):
    """Requests per authenticated user (RHYTHMIC_THROTTLE_USER); anonymous ones per address."""

    setting = "RHYTHMIC_THROTTLE_USER"


class FailedAuthThrottle(_Configured, throttling.SimpleRateThrottle):
    """Failed token authentications per client address (RHYTHMIC_THROTTLE_FAILED_AUTH).

    Unlike a request throttle it counts only failures, and once an address is over the rate every token
    it sends is refused unchecked until the window frees: guessing goes no faster than the rate.
    """

    scope = "failed_auth"
    setting = "RHYTHMIC_THROTTLE_FAILED_AUTH"

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request) -> None:
        self.key = self.get_cache_key(request)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()

    def refuse_if_over(self, request) -> None:
        """Raise Throttled (429, Retry-After) when this address has failed too often."""
        if self.rate is None:
            return
        self._load(request)
        if len(self.history) >= self.num_requests:
            wait = self.wait()
            # DRF appends "Expected available in N seconds."
            raise Throttled(wait, detail=f"too many failed authentications from this address ({self.rate}).")

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        self._load(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
