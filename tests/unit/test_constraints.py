import pytest

from builders.constraints import Constraints, load_overrides
from builders.errors import StackdebError

UC = "oslo.config===10.3.0\nzstd===1.5.7.3\nnumpy===1.26.4;python_version=='3.10'\nnumpy===2.3.0;python_version>='3.11'\n"


def overrides(tmp_path, text):
    path = tmp_path / "overrides.yaml"
    path.write_text(text)
    return load_overrides(path)


def test_constraints_group_lines_by_canonical_name():
    constraints = Constraints(UC, "uc")
    assert "oslo-config" in constraints and "OSLO_CONFIG" in constraints
    assert len(constraints.lines["numpy"]) == 2


def test_a_malformed_constraint_names_its_line():
    with pytest.raises(StackdebError, match=r"uc line 2: malformed requirement line 'zstd 1.0'"):
        Constraints("a===1\nzstd 1.0\n", "uc")


def test_drop_pin_and_replace_are_applied_and_reported(tmp_path):
    constraints = Constraints(UC, "uc")
    report = overrides(tmp_path, """
constraints:
  - drop: oslo.config
    reason: testing drop
  - pin: uwsgi==2.0.31
    reason: not in upper-constraints
  - replace: zstd
    with: zstd===1.5.7.2
    reason: 1.5.7.3 is yanked
""").apply(constraints)
    assert "oslo-config" not in constraints
    assert constraints.lines["uwsgi"] == ["uwsgi==2.0.31"]
    assert constraints.lines["zstd"] == ["zstd===1.5.7.2"]
    assert report == ["drop oslo-config: testing drop", "pin uwsgi -> uwsgi==2.0.31: not in upper-constraints",
                      "replace zstd -> zstd===1.5.7.2: 1.5.7.3 is yanked"]


@pytest.mark.parametrize("text, message", [
    ("constraints:\n  - drop: zstd\n", "every override needs a written 'reason'"),
    ("constraints:\n  - drop: zstd\n    reason: ' '\n", "every override needs a written 'reason'"),
    ("constraints:\n  - pin: uwsgi>=2\n    reason: r\n", "must be NAME==VERSION"),
    ("constraints:\n  - replace: zstd\n    reason: r\n", "'with' goes with 'replace'"),
    ("constraints:\n  - replace: zstd\n    with: lz4===1\n    reason: r\n", "must constrain zstd itself"),
    ("constraints:\n  - drop: a\n    pin: a==1\n    reason: r\n", "exactly one of drop, pin, replace"),
    ("constraints:\n  - drop: a\n    reason: r\n  - pin: a==1\n    reason: r\n", "more than one override for a"),
    ("services:\n  keystone: {version: 1}\n", "every override needs a written 'reason'"),
    ("extras: []\n", "expected only 'constraints' and 'services'"),
])
def test_bad_overrides_are_refused(tmp_path, text, message):
    with pytest.raises(StackdebError, match=message):
        overrides(tmp_path, text)


def test_dropping_a_constraint_that_does_not_exist_is_an_error(tmp_path):
    loaded = overrides(tmp_path, "constraints:\n  - drop: nothere\n    reason: r\n")
    with pytest.raises(StackdebError, match="upper-constraints has no constraint for nothere"):
        loaded.apply(Constraints(UC, "uc"))


def test_service_pins_are_read(tmp_path):
    loaded = overrides(tmp_path, "services:\n  keystone: {version: 29.0.1, reason: regression in 29.0.2}\n")
    assert loaded.service_version("keystone") == "29.0.1"
    assert loaded.service_version("glance") is None


def test_no_overrides_file_means_no_overrides(tmp_path):
    assert load_overrides(tmp_path / "missing.yaml").apply(Constraints(UC, "uc")) == []
