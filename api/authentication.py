"""Token authentication with a short in-process cache of the user and their permissions.

Looking up the token and the user's permissions cost three queries, two thirds of a predict request.
A token revoked here stops working at once in this process (a signal evicts it) and within
RHYTHMIC_AUTH_CACHE_SECONDS in the others. A bad token counts against its client address's
RHYTHMIC_THROTTLE_FAILED_AUTH (api/throttling.py); past it, tokens from there are refused unchecked.
"""

import threading
import time

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from api.throttling import FailedAuthThrottle

_lock = threading.Lock()
_cache: dict[str, tuple[float, object, Token]] = {}
MAX_ENTRIES = 10_000


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        """As DRF's, but a client address that failed too often is refused (429) before its token is checked."""
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() != self.keyword.lower().encode():
            return None  # no token: another authentication, or anonymous
        key = auth[1].decode("latin-1") if len(auth) == 2 else None
        return self._guarded(request, key, lambda: super(CachedTokenAuthentication, self).authenticate(request))

    def authenticate_key(self, key: str, request):
        """(user, token) for a key given outside the Authorization header (WebSockets), throttled alike.

        ``request`` needs only ``META`` (REMOTE_ADDR, HTTP_X_FORWARDED_FOR): it names the client address.
        """
        return self._guarded(request, key, lambda: self.authenticate_credentials(key))

    def _guarded(self, request, key: str | None, check):
        # A token this process has already checked is let through first: the hot path costs nothing more.
        if key is not None and _fresh(key) is not None:
            return check()
        throttle = FailedAuthThrottle()
        throttle.refuse_if_over(request)
        try:
            return check()
        except AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def authenticate_credentials(self, key):
        ttl = settings.RHYTHMIC_AUTH_CACHE_SECONDS
        now = time.monotonic()
        hit = _fresh(key, now)
        if hit is not None:
            return hit
        user, token = super().authenticate_credentials(key)
        if ttl > 0:
            user.get_all_permissions()  # fills the user's permission caches once, for every cached request
            with _lock:
                if len(_cache) >= MAX_ENTRIES:
                    _cache.clear()
                _cache[key] = (now + ttl, user, token)
        return user, token


def _fresh(key: str, now: float | None = None) -> tuple[object, Token] | None:
    """(user, token) of a key this process checked less than RHYTHMIC_AUTH_CACHE_SECONDS ago."""
    hit = _cache.get(key)
    if hit is None or hit[0] <= (time.monotonic() if now is None else now):
        return None
    return hit[1], hit[2]


def forget(key: str | None = None) -> None:
    with _lock:
        if key is None:
            _cache.clear()
        else:
            _cache.pop(key, None)


@receiver(post_delete, sender=Token)
def _token_deleted(sender, instance, **kwargs) -> None:
    forget(instance.key)


@receiver([post_save, post_delete], sender=User)
@receiver(m2m_changed, sender=User.user_permissions.through)
@receiver(m2m_changed, sender=User.groups.through)
@receiver(m2m_changed, sender=Group.permissions.through)
def _user_changed(sender, **kwargs) -> None:
    forget()  # deactivated users and changed permissions take effect at once in this process
