"""builders/tools/lintian: when the name filters apply, and the line that runs lintian."""

import hashlib

from builders.tools import lintian


def stock_tree(root, contents: dict[str, bytes]):
    for check, content in contents.items():
        path = root / lintian.STOCK_CHECKS / check
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_the_filters_apply_only_to_the_checks_they_were_read_from(tmp_path, monkeypatch):
    known = {check: f"stock {check}".encode() for check in lintian.NAME_FILTERS}
    monkeypatch.setattr(lintian, "NAME_FILTERS",
                        {check: {hashlib.sha256(content).hexdigest()} for check, content in known.items()})
    assert lintian.filters_apply(stock_tree(tmp_path / "same", known))
    changed = dict(known) | {"Languages/Php/Embedded.pm": b"a newer check"}
    assert not lintian.filters_apply(stock_tree(tmp_path / "changed", changed))
    missing = {check: content for check, content in known.items() if "Javascript" not in check}
    assert not lintian.filters_apply(stock_tree(tmp_path / "missing", missing))


def test_every_filtered_check_has_its_module_and_the_digest_covers_them():
    for check in lintian.NAME_FILTERS:
        assert (lintian.NAME_FILTERS_SOURCE / "lib/Lintian/Check" / check).is_file(), check
    assert len(lintian.filters_digest()) == 12


def test_the_command_keeps_lintians_exit_status_under_sh_e():
    line = lintian.command("/judge/a.deb", "/judge/r.txt", filtered=True)
    assert line.startswith(f"status=0; lintian --include-dir {lintian.INCLUDE_DIR} --fail-on error")
    assert line.endswith("|| status=$?; echo $status > /judge/r.txt.status")
    assert "--include-dir" not in lintian.command("/judge/a.deb", "/judge/r.txt")
