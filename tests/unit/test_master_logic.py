"""Pure logic behind the master: users file, settings, change mapping, lintian summary,
per-service build generations."""

import pytest

from builders.catalog import load_catalog
from builders.errors import StackdebError
from builders.lock import service_builds
from builders.lint import lintian_counts
from builders.users import add_user, check_password, read_users
from helpers import MINI_CATALOG
from builders.releases import release_ids
from master.changes import deliverable_files
from builders.buildmaster.settings import SettingsError, parse_settings


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "services.yaml"
    path.write_text(MINI_CATALOG)
    return load_catalog(path)


def test_users_file_keeps_hashes_not_passwords(tmp_path):
    users = tmp_path / "users"
    add_user(users, "alice", "s3cret-horse-battery", ["release-engineer"])
    add_user(users, "bob", "other-staple-river", ["admin"])
    assert "s3cret-horse-battery" not in users.read_text()
    assert users.stat().st_mode & 0o777 == 0o600
    found = read_users(users)
    assert found["alice"].roles == ("release-engineer",)
    assert check_password(found["alice"].password_hash, "s3cret-horse-battery")
    assert not check_password(found["alice"].password_hash, "wrong")
    assert not check_password("plain-text", "plain-text")


@pytest.mark.parametrize("password, problem", [
    ("", "is empty"), ("   ", "is empty"), ("short", "shorter than 12"), ("alice-is-the-best", "user name"),
    ("aaaaaaaaaaaaaaaa", "fewer than 5 different"), ("abcdefghijklmnop", "consecutive"),
    ("zyxwvutsrqponm", "consecutive"),
    ("password123456", "well-known"), ("Changeme2026!", "well-known"),
])
def test_weak_passwords_are_refused(tmp_path, password, problem):
    with pytest.raises(StackdebError, match=problem):
        add_user(tmp_path / "users", "alice", password, ["admin"])
    assert not (tmp_path / "users").exists()


@pytest.mark.parametrize("line, message", [
    ("alice:plaintext:admin", "expected 'name:pbkdf2-sha256"),
    ("alice:pbkdf2-sha256$1$00$00:wizard", "unknown role wizard"),
])
def test_a_malformed_users_file_is_refused_with_its_line(tmp_path, line, message):
    users = tmp_path / "users"
    users.write_text("# comment\n" + line + "\n")
    with pytest.raises(StackdebError, match=message) as info:
        read_users(users)
    assert "line 2" in str(info.value)


def settings_data(**changes):
    data = {"targets": [{"release": "2026.1", "suite": "bookworm"}],
            "sources": {"releases": "/up/releases.git", "requirements": "/up/requirements.git"},
            "workers": [{"name": "local", "password": "wk-7Qe2-ZtLp-91xA"}]}
    data.update(changes)
    return data


def test_settings_defaults_listen_on_loopback_only(tmp_path, catalog):
    (tmp_path / "users").write_text("")
    settings = parse_settings(settings_data(), tmp_path, catalog, "master.yaml")
    assert "interface=127.0.0.1" in settings.web_port and "interface=127.0.0.1" in settings.worker_port
    assert settings.watched == ["alpha", "beta"] and settings.nightly == (3, 0)
    assert settings.workers[0].max_builds >= 2
    assert (settings.cluster_layout, settings.promote) == ("changed", "auto")


def test_settings_that_are_not_a_mapping_are_one_line(tmp_path, catalog):
    with pytest.raises(SettingsError, match="expected a mapping of settings, got list"):
        parse_settings(["targets"], tmp_path, catalog, "master.yaml")


@pytest.mark.parametrize("changes, message", [
    ({"watch": ["alpha", "gamma"]}, "watch: unknown service gamma"),
    ({"workers": [{"name": "w", "password": "wk-7Qe2-ZtLp-91xA", "max_builds": 1}]}, "at least 2 are needed"),
    ({"targets": [{"release": "2026.1", "suite": "sid"}]}, "unknown suite 'sid'"),
    ({"targets": [{"release": "gazpacho", "suite": "trixie"}]}, "'gazpacho' is not an OpenStack series id"),
    ({"targets": [{"release": "2026.1", "suite": "trixie"}, {"release": "2026.1", "suite": "trixie"}]},
     "2026.1-trixie is listed twice"),
    ({"nightly": "25:00"}, "nightly: expected HH:MM"),
    ({"colour": "blue"}, "unknown key colour"),
    ({"sources": {"releases": "/r"}}, "sources.requirements is missing"),
    ({"cluster": {"promote": "sometimes"}}, "cluster.promote: auto or manual"),
    ({"cluster": {"layout": "huge"}}, "cluster.layout: unknown layout 'huge'"),
    ({"cluster": {"layout": "minimal", "colour": "blue"}}, "cluster: expected layout and promote"),
    ({"sources": "/r"}, "sources: expected a mapping"),
    ({"watch": "alpha"}, "watch: expected a list of service names"),
    ({"poll_interval": "soon"}, "poll_interval: expected a whole number"),
    ({"poll_interval": 0}, "poll_interval: at least 1"),
    ({"workers": {"name": "w"}}, "workers: expected a list of workers"),
    ({"workers": [{"name": "w", "password": "wk-7Qe2-ZtLp-91xA", "max_builds": "many"}]},
     "w's max_builds: expected a whole number"),
    ({"workers": [{"name": "w", "password": "wk-7Qe2-ZtLp-91xA", "environment": ["A=1"]}]},
     "w's environment must be a mapping"),
    ({"workers": [{"name": "w", "password": ""}]}, "each entry needs name and password, got \\['name', 'password'\\]"),
    ({"workers": [{"name": "w", "password": "short"}]}, "w's password is shorter than 16"),
    ({"store": {"url": "http://127.0.0.1:8701/", "worker": "far"}}, "store.worker: far is not one of the workers"),
    ({"store": {"url": "127.0.0.1:8701", "worker": "local"}}, "store.url: the artifact store's address"),
    ({"store": {"url": "http://127.0.0.1:8701/"}}, "store: expected url and worker"),
    ({"workers": [{"name": "local", "password": "wk-7Qe2-ZtLp-91xA", "max_builds": 2}]},
     "local has room for 2 builds; the pipeline build waits there for prove and images"),
    ({"workers": [{"name": "local", "password": "wk-7Qe2-ZtLp-91xA", "max_builds": 2},
                  {"name": "far", "password": "wk-8Rf3-AuMq-02yB", "max_builds": 4}],
      "store": {"url": "http://127.0.0.1:8701/", "worker": "local"}}, "local has room for 2 builds"),
])
def test_bad_settings_name_the_key(tmp_path, catalog, changes, message):
    (tmp_path / "users").write_text("")
    with pytest.raises(SettingsError, match=message):
        parse_settings(settings_data(**changes), tmp_path, catalog, "master.yaml")


def test_a_missing_users_file_is_a_settings_error(tmp_path, catalog):
    with pytest.raises(SettingsError, match="users file .* does not exist"):
        parse_settings(settings_data(), tmp_path, catalog, "master.yaml")


def test_changed_deliverable_files_map_to_watched_services():
    files = ["deliverables/gazpacho/alpha.yaml", "deliverables/hibiscus/beta.yaml",
             "deliverables/gazpacho/other.yaml", "README.rst", "deliverables/_independent/alpha.yaml.orig"]
    assert deliverable_files(files, {"alpha": "alpha", "beta": "beta"}) == [
        ("gazpacho", "alpha", "deliverables/gazpacho/alpha.yaml"),
        ("hibiscus", "beta", "deliverables/hibiscus/beta.yaml")]
    assert release_ids("- name: gazpacho\n  release-id: 2026.1\n- name: zed\n") == {"gazpacho": "2026.1"}


def test_lintian_counts_by_severity():
    report = "W: venv-a: tag-one\nW: venv-a: tag-two\nI: venv-a: info\nN: a note\nnot a tag\n"
    assert lintian_counts(report) == {"warnings": 2, "info": 1}


def test_a_lock_change_moves_only_the_services_whose_closure_changed():
    old_manifest = {"generation": 3, "source_date_epoch": 100}
    old = {"alpha": ["a==1", "lib==1"], "beta": ["b==1", "lib2==1"]}
    first = service_builds(old_manifest, old, old | {"alpha": ["a==2", "lib==1"]}, ["uv==1"], 4, 200)
    assert first["beta"]["generation"] == 3 and first["beta"]["source_date_epoch"] == 100
    assert first["alpha"]["generation"] == 4 and first["alpha"]["source_date_epoch"] == 200
    manifest = {"generation": 4, "source_date_epoch": 200, "service_builds": first}
    second = service_builds(manifest, old | {"alpha": ["a==2", "lib==1"]},
                            {"alpha": ["a==2", "lib==1"], "beta": ["b==1", "lib2==2"]}, ["uv==1"], 5, 300)
    assert second["alpha"]["generation"] == 4 and second["beta"]["generation"] == 5
    tools_changed = service_builds(manifest, old, {"alpha": ["a==2", "lib==1"], "beta": old["beta"]},
                                   ["uv==2"], 5, 300)
    assert {s["generation"] for s in tools_changed.values()} == {5}


def test_a_store_names_the_worker_beside_the_repository(tmp_path, catalog):
    (tmp_path / "users").write_text("")
    data = settings_data(store={"url": "http://127.0.0.1:8701", "worker": "local"})
    store = parse_settings(data, tmp_path, catalog, "master.yaml").store
    assert (store.url, store.worker) == ("http://127.0.0.1:8701/", "local")
    assert parse_settings(settings_data(), tmp_path, catalog, "master.yaml").store is None


def test_the_cluster_builder_runs_the_changed_layout_and_reports_only_a_run(tmp_path, catalog):
    """By default the cluster builder tests what changed; when nothing did, its cluster step
    says so and no report (of an older verdict) nor promotion follows."""
    from master.pipeline import builder_configs
    from master.steps import ClusterReport
    (tmp_path / "users").write_text("")
    settings = parse_settings(settings_data(), tmp_path, catalog, "master.yaml")
    cluster = next(c for c in builder_configs(settings, catalog) if c.name == "cluster")
    run, report, promote, gc = cluster.factory.steps
    assert gc.args == ("gc",) and gc.kwargs["alwaysRun"] and not gc.kwargs["flunkOnFailure"]
    assert "changed" in run.args and run.kwargs["properties"] == {"cluster_outcome": "result"}
    assert report.step_class is ClusterReport
    skip = report.kwargs["doStepIf"]

    class Step:
        def __init__(self, outcome):
            self.outcome = outcome

        def getProperty(self, name, default=None):
            return {"cluster_outcome": self.outcome, "cluster_result": None}.get(name, default)

    assert skip(Step("nothing-to-test")) is False and skip(Step(None)) is True
    assert promote.kwargs["doStepIf"](Step("nothing-to-test")) is False


@pytest.mark.parametrize("store", [False, True])
def test_every_property_the_master_reads_is_a_field_of_the_commands_result(tmp_path, catalog, store):
    """Each stackdeb step names its command's result type (builders/results.py), one the
    command can give back, and takes properties only from that type's fields."""
    from builders.results import RESULT_TYPES
    from master.pipeline import builder_configs
    from master.steps import Stackdeb
    (tmp_path / "users").write_text("")
    changes = {"store": {"url": "http://127.0.0.1:8701/", "worker": "local"}} if store else {}
    settings = parse_settings(settings_data(**changes), tmp_path, catalog, "master.yaml")
    checked = 0
    for config in builder_configs(settings, catalog):
        for step in config.factory.steps:
            if not issubclass(step.step_class, Stackdeb):
                continue
            instance = step.buildStep()
            command = instance.command[2]
            if instance.result_type is None:
                assert (command, instance.command[3]) == ("repo", "status")      # output for people
                continue
            assert instance.result_type in RESULT_TYPES[command], (config.name, command)
            assert set(instance.properties_from.values()) <= instance.result_type.field_names()
            checked += 1
    assert checked >= (14 if store else 10)


def test_a_property_from_a_field_the_result_lacks_fails_when_the_master_loads():
    from builders import results
    from master.steps import Stackdeb
    with pytest.raises(KeyError, match="Locked has no field 'generations'"):
        Stackdeb("lock", name="lock", result=results.Locked, properties={"lock_generation": "generations"})
    with pytest.raises(ValueError, match="properties need the command's result type"):
        Stackdeb("repo", "status", name="status", result=None, properties={"x": "packages"})
