import pytest

from builders import PROJECT_DIR
from builders.catalog import load_catalog
from builders.errors import StackdebError

REQUIRED_SERVICES = {"keystone", "glance", "placement", "nova", "neutron", "cinder", "heat",
                     "barbican", "aodh", "ceilometer", "swift", "cloudkitty"}


def test_the_project_catalog_has_every_required_service():
    catalog = load_catalog(PROJECT_DIR / "packaging/services.yaml")
    assert REQUIRED_SERVICES <= {s.name for s in catalog}
    assert catalog.get("placement").distribution == "openstack-placement"
    assert catalog.get("heat").distribution == "openstack-heat"
    assert catalog.get("keystone").package_name == "venv-keystone"


def test_requirement_lines_pin_the_service_and_add_extras():
    keystone = load_catalog(PROJECT_DIR / "packaging/services.yaml").get("keystone")
    assert keystone.requirement_lines("29.0.2")[0] == "keystone==29.0.2"
    assert "uwsgi" in keystone.requirement_lines("29.0.2")


GOOD = """\
svc:
  distribution: svc-dist
  deliverable: svc
  summary: A service
  import_name: svc
  user: svc
"""


def load(tmp_path, text):
    path = tmp_path / "services.yaml"
    path.write_text(text)
    return load_catalog(path)


def test_a_minimal_entry_loads(tmp_path):
    svc = load(tmp_path, GOOD).get("svc")
    assert svc.console_scripts == () and svc.daemons == {}


@pytest.mark.parametrize("extra, message", [
    ("  colour: blue\n", "unknown field(s) colour"),
    ("  extra_requirements: ['PyMySQL>>1']\n", "field 'extra_requirements': 'PyMySQL>>1' is not a valid requirement"),
    ("  console_scripts: svc-manage\n", "field 'console_scripts': must be a list of strings"),
    ("  wsgi_apps: {svc-api: {module: svc.wsgi, port: 70000}}\n", "field 'wsgi_apps': 'svc-api': port '70000'"),
    ("  wsgi_apps: {svc-api: {module: 'svc/wsgi', port: 80}}\n", "is not a dotted module path"),
    ("  runtime_packages: [Bad_Name]\n", "field 'runtime_packages': 'Bad_Name' is not a valid value"),
    ("  config_files: [a.conf, a.conf]\n", "field 'config_files': lists an item twice"),
])
def test_a_malformed_entry_names_the_entry_and_field(tmp_path, extra, message):
    with pytest.raises(StackdebError) as error:
        load(tmp_path, GOOD + extra)
    assert "service 'svc'" in str(error.value)
    assert message in str(error.value)


def test_a_missing_required_field_is_named(tmp_path):
    with pytest.raises(StackdebError, match="service 'svc', field 'user': is required"):
        load(tmp_path, GOOD.replace("  user: svc\n", ""))


def test_two_services_on_one_port_are_refused(tmp_path):
    text = (GOOD + "  wsgi_apps: {a: {module: m, port: 80}}\n"
            + GOOD.replace("svc:", "other:").replace("svc-dist", "other-dist")
            + "  wsgi_apps: {b: {module: m, port: 80}}\n")
    with pytest.raises(StackdebError, match="port 80 is already used by service 'svc'"):
        load(tmp_path, text)


def test_an_unknown_service_lists_the_known_ones(tmp_path):
    with pytest.raises(StackdebError, match="unknown service 'nope'") as error:
        load(tmp_path, GOOD).get("nope")
    assert "svc" in error.value.hint


def test_invalid_yaml_is_reported(tmp_path):
    with pytest.raises(StackdebError, match="is not valid YAML"):
        load(tmp_path, "svc: [unclosed\n")
