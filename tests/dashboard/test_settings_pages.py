"""Settings: locations (create, set the default) and the user's API token (create, regenerate, revoke)."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from catalogue.models import Location
from tests import factories

pytestmark = pytest.mark.django_db

SETTINGS = reverse("dashboard:settings")
NEW_LOCATION = reverse("dashboard:location-create")
ISSUE = reverse("dashboard:token-issue")
REVOKE = reverse("dashboard:token-revoke")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- locations -------------------------------------------------------------------------------------


def test_the_settings_page_lists_locations_and_marks_the_default(operator_web):
    # given
    factories.LocationFactory(name="eu-west", is_default=True)
    factories.LocationFactory(name="us-east")
    # when
    page = operator_web.get(SETTINGS).content.decode()
    # then
    assert "eu-west" in page and "us-east" in page
    assert reverse("dashboard:location-default", kwargs={"name": "us-east"}) in page
    assert reverse("dashboard:location-default", kwargs={"name": "eu-west"}) not in page


def test_an_operator_creates_a_default_location(operator_web):
    # given
    factories.LocationFactory(name="old", is_default=True)
    # when
    response = operator_web.post(NEW_LOCATION, {"name": "eu-west", "description": "Paris", "is_default": "on"})
    # then
    assert response.status_code == 302
    assert Location.objects.get(is_default=True).name == "eu-west"


def test_creating_a_location_with_a_taken_name_says_so(operator_web):
    # given
    factories.LocationFactory(name="eu-west")
    # when
    response = operator_web.post(NEW_LOCATION, {"name": "eu-west"})
    # then
    assert response.status_code == 409
    assert "a location named &#x27;eu-west&#x27; already exists" in response.content.decode()


def test_creating_a_location_with_an_invalid_name_shows_the_naming_rule(operator_web):
    # when
    response = operator_web.post(NEW_LOCATION, {"name": "EU West"})
    # then
    assert response.status_code == 400
    assert "lowercase letters, digits" in response.content.decode()


def test_a_user_without_add_location_cannot_create_one(maintainer_web):
    # when
    response = maintainer_web.post(NEW_LOCATION, {"name": "eu-west"})
    # then
    assert response.status_code == 403
    assert "catalogue.add_location" in response.content.decode()
    assert not Location.objects.exists()


def test_an_operator_makes_another_location_the_default(operator_web):
    # given
    factories.LocationFactory(name="eu-west", is_default=True)
    factories.LocationFactory(name="us-east")
    # when
    response = operator_web.post(reverse("dashboard:location-default", kwargs={"name": "us-east"}))
    # then
    assert response.status_code == 302
    assert list(Location.objects.filter(is_default=True).values_list("name", flat=True)) == ["us-east"]


def test_making_an_unknown_location_the_default_answers_404(operator_web):
    # when
    response = operator_web.post(reverse("dashboard:location-default", kwargs={"name": "mars"}))
    # then
    assert response.status_code == 404


def test_a_user_without_change_location_cannot_change_the_default(maintainer_web):
    # given
    factories.LocationFactory(name="us-east")
    # when
    response = maintainer_web.post(reverse("dashboard:location-default", kwargs={"name": "us-east"}))
    # then
    assert response.status_code == 403
    assert not Location.objects.filter(is_default=True).exists()


# --- the API token ---------------------------------------------------------------------------------


def test_a_user_without_a_token_is_offered_one(reader_web):
    # when
    page = reader_web.get(SETTINGS).content.decode()
    # then
    assert "You have no API token" in page
    assert ISSUE in page


def test_a_new_token_is_shown_once(reader_web, reader):
    # when
    response = reader_web.post(ISSUE, follow=True)
    # then
    key = Token.objects.get(user=reader).key
    assert key in response.content.decode()
    assert key not in reader_web.get(SETTINGS).content.decode()


def test_a_token_made_on_the_page_authenticates_api_requests(reader_web, reader, client):
    # given
    reader_web.post(ISSUE)
    key = Token.objects.get(user=reader).key
    # when
    response = client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {key}")
    # then
    assert response.status_code == 200


def test_regenerating_a_token_replaces_the_old_one(reader_web, reader, client):
    # given
    old = Token.objects.create(user=reader).key
    # when
    reader_web.post(ISSUE)
    # then
    new = Token.objects.get(user=reader).key
    assert new != old
    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401


def test_revoking_a_token_deletes_it(reader_web, reader):
    # given
    Token.objects.create(user=reader)
    # when
    response = reader_web.post(REVOKE, follow=True)
    # then
    assert not Token.objects.filter(user=reader).exists()
    assert "Your API token is revoked" in messages_of(response)[0]


def test_revoking_without_a_token_says_there_was_none(reader_web):
    # when
    response = reader_web.post(REVOKE, follow=True)
    # then
    assert messages_of(response) == ["You had no API token."]


def test_token_actions_only_accept_post(reader_web, reader):
    # when
    response = reader_web.get(ISSUE)
    # then
    assert response.status_code == 405
    assert not Token.objects.filter(user=reader).exists()
