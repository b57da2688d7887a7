import subprocess
import sys

import pytest

from builders.cli import build_parser
from builders.tools import find
from builders.errors import StackdebError


def test_help_explains_every_stage():
    text = build_parser().format_help()
    for command in ("lock", "bundle", "services"):
        assert f"  {command}" in text


def test_an_unknown_suite_is_one_clear_error(stackdeb):
    code, err = stackdeb("bundle", "--suite", "sid")
    assert code == 1
    assert err.strip().splitlines()[0] == "stackdeb: error: unknown suite 'sid'"


def test_a_missing_tool_names_the_tool_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("builders.tools._OWN_BIN", str(tmp_path))
    with pytest.raises(StackdebError, match="required tool 'dpkg-deb' was not found") as error:
        find("dpkg-deb")
    assert "apt-get install dpkg" in error.value.hint


def test_the_installed_command_runs():
    result = subprocess.run([sys.executable, "-m", "builders.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "stackdeb turns an OpenStack release" in result.stdout
