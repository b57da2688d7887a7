"""builders/tools/lintian: when builders/lintian-include applies, and the line that runs lintian."""

import hashlib

from builders.tools import lintian


def stock_tree(root, contents: dict[str, bytes]):
    for check, content in contents.items():
        path = root / lintian.LINTIAN_LIB / check
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_the_include_applies_only_to_the_sources_it_was_read_from(tmp_path, monkeypatch):
    known = {check: f"stock {check}".encode() for check in lintian.VERIFIED_SOURCES}
    monkeypatch.setattr(lintian, "VERIFIED_SOURCES",
                        {check: {hashlib.sha256(content).hexdigest()} for check, content in known.items()})
    assert lintian.include_applies(stock_tree(tmp_path / "same", known))
    changed = dict(known) | {"Index/FileTypes.pm": b"a newer index"}
    assert not lintian.include_applies(stock_tree(tmp_path / "changed", changed))
    missing = {check: content for check, content in known.items() if "Javascript" not in check}
    assert not lintian.include_applies(stock_tree(tmp_path / "missing", missing))


def test_every_verified_check_has_its_filter_and_the_digest_covers_them():
    checks = [source for source in lintian.VERIFIED_SOURCES if source.startswith("Check/")]
    for check in checks:
        assert (lintian.INCLUDE_SOURCE / "lib/Lintian" / check).is_file(), check
    assert len(checks) == 3 and len(lintian.include_digest()) == 12


def test_the_command_keeps_lintians_exit_status_under_sh_e():
    line = lintian.command("/judge/a.deb", "/judge/r.txt", included=True)
    assert line.startswith(f"status=0; STACKDEB_FILE_TYPES={lintian.FILE_TYPES} ")
    assert f"PERL5OPT=-MStackdeb::FileTypes lintian --include-dir {lintian.INCLUDE_DIR} --fail-on error" in line
    assert line.endswith("|| status=$?; echo $status > /judge/r.txt.status")
    assert "--include-dir" not in lintian.command("/judge/a.deb", "/judge/r.txt")
