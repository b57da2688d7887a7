"""Every input format stackdeb reads, fed what Hypothesis makes of it: the answer is a value or
one clear error (StackdebError, or SettingsError for master.yaml), never another exception.
Each test is bounded (max_examples); seeds that found bugs stay below as explicit examples."""

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given, settings, strategies as st

from builders import PROJECT_DIR
from builders.catalog import load_catalog
from builders.cluster.layout import load_layout
from builders.cluster.needs import service_needs
from builders.cluster.report import waiting_reasons
from builders.cluster.verdict import coverage, disagreements
from builders.constraints import Constraints, load_overrides
from builders.errors import StackdebError
from builders.lockfile import parse_lock
from builders.releases import final_versions_in
from builders.buildmaster.settings import SettingsError, parse_settings

CATALOG = load_catalog(PROJECT_DIR / "packaging/services.yaml")
BOUND = settings(max_examples=150, deadline=None)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=20))
# JSON-like trees, with the names and keys the formats use, so that some inputs get deep
words = st.sampled_from(["keystone", "glance", "nova", "roles", "services", "infrastructure", "hardware",
                         "memory_mb", "needs", "releases", "version", "projects", "packages", "name",
                         "machines", "installed", "tests", "result", "build_set", "sha256", "mariadb"])
trees = st.recursive(scalars | words, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(words | st.text(max_size=8), inner, max_size=4), max_leaves=25)
texts = st.text(max_size=300) | st.builds(lambda t: yaml.safe_dump(t), trees)


def answers(parse, *args) -> None:
    """`parse` returns, or fails with one clear error: anything else fails the test."""
    try:
        parse(*args)
    except StackdebError as error:
        assert error.message.strip() and "Traceback" not in error.message and len(error.message) < 2000


def through_file(text: str, parse, suffix: str = ".yaml"):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"input{suffix}"
        path.write_text(text)
        return parse(path)


@BOUND
@given(texts)
@example("keystone: {deliverable: [1]}")
def test_the_catalog(text):
    answers(through_file, text, load_catalog)


@BOUND
@given(texts)
@example("roles: {a: {services: [[]]}}")
def test_layouts(text):
    answers(through_file, text, lambda path: load_layout(str(path), CATALOG))


@BOUND
@given(trees)
def test_the_cluster_configs_needs(tree):
    answers(service_needs, tree if isinstance(tree, dict) else {"x": tree}, "cluster-config.yaml")


@BOUND
@given(texts)
def test_overrides(text):
    answers(through_file, text, load_overrides)


@BOUND
@given(texts)
@example("releases: [{version: 1.0, projects: 3}]")
def test_deliverables(text):
    answers(final_versions_in, text, "deliverables/gazpacho/x.yaml")


@BOUND
@given(st.text(max_size=400))
@example("keystone===1.0;python_version>'3'\nkeystone===2.0;python_version>'3'")
def test_upper_constraints(text):
    answers(Constraints, text, "upper-constraints.txt")


@BOUND
@given(st.text(max_size=400))
@example("a==1 \\\n    --hash=sha256:zz")
def test_lock_files(text):
    answers(parse_lock, text, "lock.txt")


@BOUND
@given(trees)
def test_master_settings(tree):
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "users").write_text("")
        try:
            parse_settings(tree, Path(scratch), CATALOG, "master.yaml")
        except SettingsError:
            pass


@BOUND
@given(trees)
@example({"build_set": {"packages": [3]}})
@example({"machines": [{"installed": {"venv-x": 1}}], "build_set": {"packages": [{"name": "venv-x"}]}})
def test_verdicts(tree):
    """What promotion and `repo status` read of a verdict (its signature checked first)."""
    verdict = tree if isinstance(tree, dict) else {"result": tree}
    answers(coverage, verdict)
    answers(disagreements, verdict)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "verdict.json"
        path.write_text(json.dumps(verdict))
        answers(waiting_reasons, {"venv-x": {"staging": "2", "tested": "1"}}, path)
