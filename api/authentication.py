"""Token authentication with a short cache of the user and their permissions, in process memory.

Looking up the token and the user's permissions cost three queries, two thirds of a predict request.
A token revoked here stops working at once in this process (a signal evicts it) and within
RHYTHMIC_AUTH_CACHE_SECONDS in the others. A bad token counts against its client address's
RHYTHMIC_THROTTLE_FAILED_AUTH (api/throttling.py); past it, tokens from there are refused unchecked.
"""

import copy
import hashlib
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

#: At most this many checked tokens are kept; past it the expired ones go, then all (a flood of distinct tokens).
MAX_ENTRIES = 10_000


class _Checked:
    """Tokens checked recently: digest -> (expiry on the monotonic clock, user, token), shared by the threads.

    A dict, not Django's local-memory cache: that one pickles each value, and unpickling the user on every request
    cost more than the rest of the authentication. Each hit gets its own shallow copy of the user (its
    permission caches included), so a request that sets an attribute on it does not change another's."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, User, Token]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str):
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires, user, token = entry
        if expires < time.monotonic():
            self._entries.pop(digest, None)
            return None
        return _shallow_copy(user), token

    def set(self, digest: str, user, token, ttl: float) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                now = time.monotonic()
                self._entries = {key: entry for key, entry in self._entries.items() if entry[0] >= now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries = {}
            self._entries[digest] = (time.monotonic() + ttl, user, token)

    def delete(self, digest: str) -> None:
        self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries = {}


def _shallow_copy(user: User) -> User:
    """What ``copy.copy`` gives for a model instance (its own ``__dict__`` and ``_state``), without the pickling
    protocol's detour: that detour was a third of the authentication of a cached token."""
    clone = object.__new__(type(user))
    state = user.__dict__.copy()
    state["_state"] = copy.copy(user._state)
    state["_state"].fields_cache = user._state.fields_cache.copy()
    clone.__dict__ = state
    return clone


_checked = _Checked()


def _cache() -> _Checked:
    return _checked


def _cache_key(key: str) -> str:
    # A digest: the cache never holds a usable token, and any key is a valid cache key.
    return "token:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


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
        # A token checked recently is let through first: the hot path costs one cache read.
        hit = None if key is None else _fresh(key)
        if hit is not None:
            return hit
        throttle = FailedAuthThrottle()
        throttle.refuse_if_over(request)
        try:
            return check()
        except AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def authenticate_credentials(self, key):
        hit = _fresh(key)
        if hit is not None:
            return hit
        user, token = super().authenticate_credentials(key)
        ttl = settings.RHYTHMIC_AUTH_CACHE_SECONDS
        if ttl > 0:
            user.get_all_permissions()  # fills the user's permission caches once, for every cached request
            _cache().set(_cache_key(key), user, token, ttl)
        return user, token


def _fresh(key: str) -> tuple[object, Token] | None:
    """(user, token) of a key checked less than RHYTHMIC_AUTH_CACHE_SECONDS ago."""
    if settings.RHYTHMIC_AUTH_CACHE_SECONDS <= 0:
        return None
    return _cache().get(_cache_key(key))


def forget(key: str | None = None) -> None:
    """Evict ``key`` (all keys) from the token cache."""
    if key is None:
        _cache().clear()
    else:
        _cache().delete(_cache_key(key))


class TokenCache:
    """The token cache as a part of the ServingProcess: its reset empties the cache (a fresh process)."""

    def __init__(self, process=None) -> None:
        pass

    def reset(self) -> None:
        forget()


@receiver(post_delete, sender=Token)
def _token_deleted(sender, instance, **kwargs) -> None:
    forget(instance.key)


@receiver([post_save, post_delete], sender=User)
@receiver(m2m_changed, sender=User.user_permissions.through)
@receiver(m2m_changed, sender=User.groups.through)
@receiver(m2m_changed, sender=Group.permissions.through)
def _user_changed(sender, **kwargs) -> None:
    forget()  # deactivated users and changed permissions take effect at once in this process
