"""The CLI: add_model, promote, rollback, models, versions, routes, deploy (and the deploy config it reads)."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue import deploy_config, services
from catalogue.errors import InvalidInput
from catalogue.models import Deployment, MLModel, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def artifact(tmp_path, regressor_bytes) -> Path:
    path = tmp_path / "model.dill"
    path.write_bytes(regressor_bytes)
    return path


@pytest.fixture
def other_artifact(tmp_path) -> Path:
    path = tmp_path / "other.dill"
    path.write_bytes(factories.artifact_bytes(factories.river_regressor(intercept=1.0)))
    return path


# --- add_model -------------------------------------------------------------------------------------


def test_add_model_creates_the_model_and_registers_version_one(artifact):
    # When a file is added under a new name with a flavor
    output = run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression", "--message", "first")
    # Then the model exists and the bytes are its pending v1
    assert "created model taxi (regression)" in output
    assert "taxi v1 (pending)" in output
    version = ModelVersion.objects.get(model__name="taxi")
    assert (version.number, version.message, bytes(version.artifact)) == (1, "first", artifact.read_bytes())


def test_add_model_twice_with_different_files_gives_v1_then_v2(artifact, other_artifact):
    first = run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression")
    second = run("add_model", str(other_artifact), "--name", "taxi")
    assert "taxi v1 (pending)" in first
    assert "taxi v2 (pending)" in second
    assert "created model" not in second


def test_add_model_with_the_same_file_twice_reports_the_existing_version(artifact):
    run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression")
    output = run("add_model", str(artifact), "--name", "taxi")
    assert "taxi v1 (pending): these bytes are already this version" in output
    assert ModelVersion.objects.count() == 1


def test_add_model_passes_requirements_and_input_example(artifact, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("river\n")
    run(
        "add_model",
        str(artifact),
        "--name=taxi",
        "--flavor=regression",
        f"--requirements={requirements}",
        '--input-example={"distance": 3.2}',
        "--format=dill",
    )
    version = ModelVersion.objects.get()
    assert (version.requirements, version.input_example, version.format) == ("river\n", {"distance": 3.2}, "dill")


def test_add_model_needs_a_flavor_to_create_a_model(artifact):
    with pytest.raises(CommandError, match="give its flavor"):
        run("add_model", str(artifact), "--name", "taxi")
    assert not MLModel.objects.exists()


def test_add_model_refuses_an_unknown_flavor(artifact):
    with pytest.raises(CommandError, match="invalid choice: 'ranking'"):
        run("add_model", str(artifact), "--name", "taxi", "--flavor", "ranking")


def test_add_model_refuses_a_flavor_that_differs_from_the_existing_model(artifact):
    factories.MLModelFactory(name="taxi", flavor="regression")
    with pytest.raises(CommandError, match="taxi is a regression model, not binary"):
        run("add_model", str(artifact), "--name", "taxi", "--flavor", "binary")


def test_add_model_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"PATH: file .*nope\.dill not found"):
        run("add_model", str(tmp_path / "nope.dill"), "--name", "taxi", "--flavor", "regression")


def test_add_model_refuses_a_missing_requirements_file(artifact, tmp_path):
    with pytest.raises(CommandError, match="--requirements: file"):
        run("add_model", str(artifact), "--name=taxi", "--flavor=regression", f"--requirements={tmp_path / 'no.txt'}")


def test_add_model_refuses_an_input_example_that_is_not_json(artifact):
    with pytest.raises(CommandError, match="--input-example is not valid JSON"):
        run("add_model", str(artifact), "--name=taxi", "--flavor=regression", "--input-example={distance: 3}")


def test_add_model_refuses_a_bad_name_with_the_services_message(artifact):
    with pytest.raises(CommandError, match="name must be 1-100 lowercase letters"):
        run("add_model", str(artifact), "--name", "Taxi ETA", "--flavor", "regression")


def test_add_model_with_an_empty_file_leaves_no_model_behind(tmp_path):
    # Given an empty file
    empty = tmp_path / "empty.dill"
    empty.write_bytes(b"")
    # When it is added under a new name, then the service's refusal is the error
    with pytest.raises(CommandError, match="the artifact is empty"):
        run("add_model", str(empty), "--name", "taxi", "--flavor", "regression")
    # And the model created in the same transaction was rolled back
    assert not MLModel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_add_model_reports_the_validation_result_of_the_inline_worker(artifact):
    output = run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression")
    assert "taxi v1 (ready)" in output


@pytest.mark.django_db(transaction=True)
def test_add_model_with_a_garbage_artifact_fails_with_the_reason(tmp_path):
    # Given bytes that are no model at all
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"this is not a pickle")
    out = io.StringIO()
    # When they are added, then the command fails with validation's reason
    with pytest.raises(CommandError, match="taxi v1 failed validation: load: could not load the bytes as dill"):
        call_command("add_model", str(garbage), "--name=taxi", "--flavor=regression", stdout=out)
    # And the version and the failed check were printed first
    assert "taxi v1 (failed)" in out.getvalue()
    assert "  load: could not load the bytes as dill" in out.getvalue()


# --- promote, rollback ------------------------------------------------------------------------------


def test_promote_then_the_models_table_shows_v1_in_production():
    # Given a model with a ready v1
    version = factories.ModelVersionFactory(model__name="taxi")
    # When v1 is promoted
    output = run("promote", "taxi", "--version", "1", "--note", "first release")
    # Then it is live, recorded, and the table says so
    assert output.strip() == "taxi v1 is now in production (was none)"
    assert Deployment.objects.get().note == "first release"
    table = run("models").splitlines()
    assert table[0].split() == ["NAME", "FLAVOR", "LOCATION", "PRODUCTION", "VERSIONS", "LATEST"]
    assert table[1].split() == ["taxi", "regression", "-", "v1", "1", "v1", "(ready)"]
    version.model.refresh_from_db()
    assert version.model.production_version == version


def test_promote_refuses_an_unknown_model():
    with pytest.raises(CommandError, match="no model named 'ghost'"):
        run("promote", "ghost", "--version", "1")


def test_promote_refuses_an_unknown_version():
    factories.ModelVersionFactory(model__name="taxi")
    with pytest.raises(CommandError, match="taxi has no version 7"):
        run("promote", "taxi", "--version", "7")


def test_promote_refuses_a_version_number_that_is_not_a_number():
    factories.MLModelFactory(name="taxi")
    with pytest.raises(CommandError, match="a version number is a whole number, not 'latest'"):
        run("promote", "taxi", "--version", "latest")


def test_promote_refuses_a_version_that_failed_validation():
    factories.ModelVersionFactory(model__name="taxi", status=ModelVersion.Status.FAILED)
    with pytest.raises(CommandError, match="only ready versions can be promoted; taxi v1 is failed"):
        run("promote", "taxi", "--version", "1")


def test_rollback_returns_to_the_previous_production_version():
    # Given v1 then v2 promoted
    model = factories.MLModelFactory(name="taxi")
    v1, v2 = factories.ModelVersionFactory(model=model), factories.ModelVersionFactory(model=model)
    services.deployment_promote(version=v1)
    services.deployment_promote(version=v2)
    # When rolled back
    output = run("rollback", "taxi", "--note", "v2 drifts")
    # Then v1 is live again
    assert output.strip() == "taxi rolled back from v2 to v1"
    model.refresh_from_db()
    assert model.production_version == v1


def test_rollback_without_an_earlier_version_is_refused():
    services.deployment_promote(version=factories.ModelVersionFactory(model__name="taxi"))
    with pytest.raises(CommandError, match="taxi has no earlier ready production version"):
        run("rollback", "taxi")


def test_rollback_refuses_an_unknown_model():
    with pytest.raises(CommandError, match="no model named 'ghost'"):
        run("rollback", "ghost")


# --- who the CLI acts as -----------------------------------------------------------------------------


def test_add_model_with_user_records_the_author_and_the_owner(artifact):
    alice = factories.UserFactory(username="alice")
    run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression", "--user", "alice")
    version = ModelVersion.objects.select_related("model").get()
    assert (version.author, version.model.owner) == (alice, alice)


def test_promote_and_rollback_with_user_record_who_deployed(artifact):
    # Given v1 and v2 of a model
    alice = factories.UserFactory(username="alice")
    model = factories.MLModelFactory(name="taxi")
    factories.ModelVersionFactory(model=model)
    factories.ModelVersionFactory(model=model)
    # When alice promotes both, then rolls back
    run("promote", "taxi", "--version", "1", "--user", "alice")
    run("promote", "taxi", "--version", "2", "--user", "alice")
    run("rollback", "taxi", "--user", "alice")
    # Then each deployment is hers
    assert [d.user for d in Deployment.objects.all()] == [alice, alice, alice]


def test_without_user_the_cli_acts_as_rhythmic_cli_user(artifact, settings):
    settings.RHYTHMIC_CLI_USER = "ops"
    ops = factories.UserFactory(username="ops")
    run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression")
    assert ModelVersion.objects.get().author == ops


def test_without_user_the_cli_acts_as_the_django_user_named_like_the_os_user(artifact, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "carol")
    factories.UserFactory(username="admin", is_superuser=True)
    carol = factories.UserFactory(username="carol")
    run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression")
    assert ModelVersion.objects.get().author == carol


def test_without_user_the_cli_acts_as_the_first_superuser(artifact, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "nobody-here")
    demo = factories.UserFactory(username="demo", is_superuser=True)
    factories.UserFactory(username="later", is_superuser=True)
    factories.ModelVersionFactory(model__name="ready")
    run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression")
    run("promote", "ready", "--version", "1")
    assert ModelVersion.objects.get(model__name="taxi").author == demo
    assert Deployment.objects.get().user == demo


def test_an_unknown_user_is_refused_before_anything_changes(artifact):
    with pytest.raises(CommandError, match="--user: no user named 'ghost'"):
        run("add_model", str(artifact), "--name", "taxi", "--flavor", "regression", "--user", "ghost")
    assert not MLModel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_deploy_with_user_records_the_author_and_who_promoted(config_dir):
    alice = factories.UserFactory(username="alice")
    run("deploy", str(config_dir / "deploy.toml"), "--user", "alice")
    assert ModelVersion.objects.get().author == alice
    assert Deployment.objects.get().user == alice


# --- models, versions, routes -----------------------------------------------------------------------


def test_models_says_how_to_start_when_the_catalogue_is_empty():
    assert "no models yet; add one with: manage.py add_model" in run("models")


def test_versions_lists_newest_first_and_marks_the_live_one(maintainer):
    # Given v1 in production and a failed v2 by a known author
    model = factories.MLModelFactory(name="taxi")
    v1 = factories.ModelVersionFactory(model=model, message="first")
    v2 = factories.ModelVersionFactory(model=model, status=ModelVersion.Status.FAILED, author=maintainer)
    services.deployment_promote(version=v1)
    # When the versions are listed
    lines = run("versions", "taxi").splitlines()
    # Then each row has its facts, the live one marked
    assert lines[0].split() == ["VERSION", "STATUS", "FORMAT", "SIZE", "SHA256", "AUTHOR", "MESSAGE", "CREATED", "LIVE"]
    assert v2.size < 1024
    assert lines[1].split()[:8] == ["v2", "failed", "dill", str(v2.size), "B", v2.sha256[:12], "maintainer", "-"]
    assert not lines[1].endswith("LIVE")
    assert lines[2].split()[:2] == ["v1", "ready"]
    assert v1.sha256[:12] in lines[2]
    assert "first" in lines[2]
    assert lines[2].endswith("LIVE")


def test_versions_refuses_an_unknown_model():
    with pytest.raises(CommandError, match="no model named 'ghost'"):
        run("versions", "ghost")


def test_versions_of_a_model_without_versions_says_so():
    factories.MLModelFactory(name="taxi")
    assert "taxi has no versions yet" in run("versions", "taxi")


def test_routes_lists_every_route_with_its_name():
    routes = dict(line.split(maxsplit=1) if " " in line else (line, "") for line in run("routes").splitlines())
    assert routes["/admin/"] == "admin:index"
    assert routes["/api/schema/"] == "schema"
    assert routes["/admin/catalogue/modelversion/<path:object_id>/artifact/"] == "admin:catalogue_modelversion_artifact"


def test_routes_can_be_filtered_by_prefix():
    lines = run("routes", "--prefix", "/api/").splitlines()
    assert lines
    assert all(line.startswith("/api/") for line in lines)


# --- deploy -------------------------------------------------------------------------------------------

GOOD_CONFIG = """
[model]
name = "taxi-eta"
flavor = "regression"
description = "Minutes to destination"
location = "eu-west"

[model.metadata]
team = "mobility"

[artifact]
path = "model.pkl"
format = "dill"
requirements = "requirements.txt"
message = "first release"
input_example = { distance = 3.2 }

[deploy]
promote = true
"""


@pytest.fixture
def config_dir(tmp_path, regressor_bytes) -> Path:
    """A folder with model.pkl, requirements.txt and deploy.toml, the way a project would ship them."""
    services.location_create(name="eu-west")
    (tmp_path / "model.pkl").write_bytes(regressor_bytes)
    (tmp_path / "requirements.txt").write_text("river\n")
    (tmp_path / "deploy.toml").write_text(GOOD_CONFIG)
    return tmp_path


def edit_config(folder: Path, old: str, new: str) -> str:
    path = folder / "deploy.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return str(path)


@pytest.mark.django_db(transaction=True)
def test_deploy_with_a_good_config_creates_validates_and_promotes(config_dir):
    # When a good config is deployed
    output = run("deploy", str(config_dir / "deploy.toml"))
    # Then the model exists as described and its v1 is validated and live
    assert output.splitlines() == [
        "created model taxi-eta (regression)",
        "taxi-eta v1 (ready)",
        "taxi-eta v1 is now in production (was none)",
    ]
    model = MLModel.objects.select_related("location", "production_version").get(name="taxi-eta")
    assert (model.description, model.metadata, model.location.name) == (
        "Minutes to destination",
        {"team": "mobility"},
        "eu-west",
    )
    version = model.production_version
    assert (version.number, version.requirements, version.input_example) == (1, "river\n", {"distance": 3.2})
    assert version.message == "first release"


@pytest.mark.django_db(transaction=True)
def test_deploying_the_same_config_again_changes_nothing(config_dir):
    run("deploy", str(config_dir / "deploy.toml"))
    output = run("deploy", str(config_dir / "deploy.toml"))
    assert "taxi-eta v1 is already in production" in output
    assert Deployment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_deploy_of_a_new_artifact_updates_the_model_and_promotes_v2(config_dir):
    # Given v1 deployed
    run("deploy", str(config_dir / "deploy.toml"))
    # When a new artifact and new metadata are deployed
    (config_dir / "model.pkl").write_bytes(factories.artifact_bytes(factories.river_regressor(intercept=2.0)))
    config = edit_config(config_dir, 'team = "mobility"', 'team = "eta"')
    output = run("deploy", config)
    # Then v2 replaces v1 and the model's metadata follows the config
    assert "taxi-eta v2 is now in production (was v1)" in output
    model = MLModel.objects.get(name="taxi-eta")
    assert model.metadata == {"team": "eta"}
    assert model.production_version.number == 2


@pytest.mark.django_db(transaction=True)
def test_deploy_of_a_garbage_artifact_fails_with_the_reasons_and_promotes_nothing(config_dir):
    (config_dir / "model.pkl").write_bytes(b"garbage")
    with pytest.raises(CommandError, match="taxi-eta v1 failed validation: load: could not load"):
        run("deploy", str(config_dir / "deploy.toml"))
    assert MLModel.objects.get(name="taxi-eta").production_version is None


def test_deploy_says_so_when_validation_has_not_finished(config_dir):
    # Given a worker that has not run yet (inside this test's transaction nothing is committed)
    output = run("deploy", str(config_dir / "deploy.toml"))
    # Then the version is registered but not promoted, and the output says what to do next
    assert "taxi-eta v1 (pending)" in output
    assert "not promoted yet: validation of taxi-eta v1 has not finished" in output
    assert "manage.py promote taxi-eta --version 1" in output
    assert not Deployment.objects.exists()


def test_deploy_without_promote_only_registers(config_dir):
    output = run("deploy", edit_config(config_dir, "promote = true", "promote = false"))
    assert "taxi-eta v1 (pending)" in output
    assert "production" not in output


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "taxi-eta"', "name = [", "the config is not valid TOML"),
        ('flavor = "regression"\n', "", "missing key model.flavor"),
        ("[artifact]", "[artefact]", "unknown key artefact"),
        ('path = "model.pkl"', 'path = "missing.pkl"', r"artifact.path: file .*missing\.pkl not found"),
        ('requirements = "requirements.txt"', 'requirements = "no.txt"', "artifact.requirements: file"),
        ('location = "eu-west"', 'location = "mars"', "no location named 'mars'"),
        ("promote = true", 'promote = "yes"', "deploy.promote must be true or false"),
        ("promote = true", "promte = true", "unknown key deploy.promte"),
        ('flavor = "regression"', 'flavor = "ranking"', "model.flavor must be one of"),
        ('flavor = "regression"', "flavor = 3", "model.flavor must be a string"),
        ('format = "dill"', 'format = "zip"', "artifact.format must be one of"),
        ('team = "mobility"', "team = 1", "model.metadata must be a table of strings"),
        ("input_example = { distance = 3.2 }", "input_example = [3.2]", "artifact.input_example must be a table"),
        ('name = "taxi-eta"', 'name = "Taxi ETA"', "name must be 1-100 lowercase letters"),
    ],
)
def test_deploy_refuses_a_bad_config_naming_what_to_fix(config_dir, old, new, message):
    with pytest.raises(CommandError, match=message):
        run("deploy", edit_config(config_dir, old, new))
    assert not MLModel.objects.exists()


def test_deploy_refuses_a_missing_config_file(tmp_path):
    with pytest.raises(CommandError, match=r"config file .*nope\.toml not found"):
        run("deploy", str(tmp_path / "nope.toml"))


def test_deploy_refuses_a_flavor_that_differs_from_the_existing_model(config_dir):
    factories.MLModelFactory(name="taxi-eta", flavor="binary")
    with pytest.raises(CommandError, match="model taxi-eta is a binary model, not regression"):
        run("deploy", str(config_dir / "deploy.toml"))
    assert not ModelVersion.objects.exists()


def test_deploy_config_parse_resolves_paths_against_the_given_folder(tmp_path):
    config = deploy_config.parse(GOOD_CONFIG, base_dir=tmp_path)
    assert config.artifact_path == tmp_path / "model.pkl"
    assert config.requirements_path == tmp_path / "requirements.txt"
    assert (config.name, config.flavor, config.promote) == ("taxi-eta", "regression", True)


def test_deploy_config_parse_leaves_absent_model_fields_unset():
    config = deploy_config.parse('[model]\nname = "a"\nflavor = "binary"\n[artifact]\npath = "m.pkl"\n')
    assert (config.description, config.location, config.metadata, config.promote) == (None, None, None, False)


def test_deploy_config_parse_errors_name_the_key():
    with pytest.raises(InvalidInput) as error:
        deploy_config.parse('[model]\nname = "a"\nflavor = "binary"\n')
    assert error.value.field == "artifact"
    assert error.value.message == "missing table [artifact] in the config"
