"""packaging/templates/finalize.py: what the build byte-compiles."""

import importlib.util
from pathlib import Path

from builders.debian_dir import TEMPLATES

spec = importlib.util.spec_from_file_location("finalize", TEMPLATES / "finalize.py")
finalize = importlib.util.module_from_spec(spec)
spec.loader.exec_module(finalize)

SITE = Path("lib/python3.13/site-packages")


def test_test_suites_are_not_compiled_and_everything_else_is():
    for module in ("nova/tests/unit/test_api.py", "numpy/_core/tests/test_dtype.py", "tests/__init__.py"):
        assert finalize.is_test_suite(SITE / module), module
    for module in ("nova/api/openstack/compute/servers.py", "oslo_db/tests.py", "nova/test.py",
                   "oslotest/base.py", "sqlalchemy/testing/fixtures.py", "fixtures/testcase.py"):
        assert not finalize.is_test_suite(SITE / module), module


def test_a_test_suite_is_left_uncompiled_and_a_module_that_does_not_compile_is_named(tmp_path):
    venv = tmp_path / "venv"
    for name, text in {"pkg/__init__.py": "", "pkg/tests/test_pkg.py": "x = 1\n", "pkg/data.txt": "",
                       "pkg/broken.py": "def (:\n"}.items():
        (venv / SITE / name).parent.mkdir(parents=True, exist_ok=True)
        (venv / SITE / name).write_text(text)
    assert finalize.compile_bytecode(venv, "/opt/venvs/svc") == [f"/{SITE}/pkg/broken.py"]
    compiled = sorted(p.relative_to(venv / SITE).as_posix() for p in venv.rglob("*.pyc"))
    assert len(compiled) == 1 and compiled[0].startswith("pkg/__pycache__/__init__.")
