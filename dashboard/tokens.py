"""A user's API token (rest_framework.authtoken: one per user): issue or replace it, revoke it.

Deleting the old token evicts it from the API's token cache at once in this process (a signal in
api.authentication) and within RHYTHMIC_AUTH_CACHE_SECONDS in the others.
"""

from django.db import transaction
from rest_framework.authtoken.models import Token


def token_get(*, user) -> Token | None:
    return Token.objects.filter(user=user).first()


@transaction.atomic
def token_issue(*, user) -> Token:
    """A new token for ``user``; an existing one stops working."""
    for old in Token.objects.filter(user=user):
        old.delete()  # one by one, so post_delete evicts each key from the cache
    return Token.objects.create(user=user)


@transaction.atomic
def token_revoke(*, user) -> bool:
    """Delete the user's token; False when there was none."""
    tokens = list(Token.objects.filter(user=user))
    for token in tokens:
        token.delete()
    return bool(tokens)
