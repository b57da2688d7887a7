"""publish: a build set into a target's staging suite, whole or not at all; rollback: a
target's suites back to an earlier state, as a new generation."""

from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.manifest import write_json
from builders.targets import Target, get_target
from builders.tools import reprepro
from builders.repository.generations import (
    KEEP_GENERATIONS, KEYRING_PACKAGE, Repository, include_keyring, make_live, new_generation,
    signing_keys, suite_packages, targets_state, tested_state,
)
from builders.repository.incoming import (
    check_against_live, check_provenance, check_whole, read_deb, read_whole_by_lintian,
    validate_build_set,
)




def publish_build_set(root: Path, release: str, suite_name: str, paths: list[Path], *,
                      keep: int = KEEP_GENERATIONS, foreign: list[Path] = ()) -> int:
    """Land a build set in the target's staging suite, whole or not at all; return the live
    generation. Other targets' suites are not touched. `paths` are stackdeb builds (checked
    against their build records); `foreign` ones come from elsewhere and are checked whole."""
    target = get_target(release, suite_name)
    debs = [read_deb(p) for p in [*paths, *foreign]]
    validate_build_set(debs, target)
    vouched = {Path(p).resolve() for p in foreign}
    check_provenance(debs, vouched)
    repo = Repository(root)
    with repo.locked():
        keys = signing_keys(repo)
        repo.public.mkdir(parents=True, exist_ok=True)
        fresh = check_against_live(repo, debs, target.staging_suite)
        for deb in fresh:
            if deb.path.resolve() not in vouched and not read_whole_by_lintian(deb):
                check_whole(deb)
        if not fresh:
            log.info(f"every package of the build set is already in {target.staging_suite}: nothing to do")
            return repo.live_generation()
        number, work, _ = new_generation(repo, keys, adding=target)
        include_keyring(repo, work, keys, [target])
        reprepro.includedeb(work, target.staging_suite, [d.path for d in fresh], repo.gnupg)
        packages = {d.name: d.version for d in debs}
        event = repo.stamp({"action": "publish", "target": target.name, "generation": number,
                            "suite": target.staging_suite, "packages": packages})
        state = targets_state(work)
        state[target.name] = {"release": target.release, "suite": target.suite.codename,
                              "packages": {**(state.get(target.name) or {}).get("packages", {}), **packages},
                              "state_from": number}
        make_live(repo, work, number, [target], keys.sign_with, state, event, keep)
    log.info(f"published {len(fresh)} packages to {target.staging_suite}: generation {number} is live")
    return number


def _earlier_state(repo: Repository, target: Target, current_from: int) -> int | None:
    """The newest kept generation holding a state of `target` older than the live one."""
    for number in reversed(repo.generations()):
        entry = targets_state(repo.generation_dir(number)).get(target.name)
        if entry and entry.get("state_from") is not None and entry["state_from"] < current_from:
            return number
    return None


def rollback(root: Path, release: str, suite_name: str, *, keep: int = KEEP_GENERATIONS) -> int:
    """Give one target's two suites the state they had before its last change, in a new
    generation signed by the current key; other targets keep their bytes. Returns the new
    live generation."""
    target = get_target(release, suite_name)
    repo = Repository(root)
    with repo.locked():
        live = repo.live_generation()
        current = targets_state(repo.generation_dir(live)).get(target.name) if live is not None else None
        if not current:
            raise StackdebError(f"the repository holds nothing for {target.label}",
                                hint=f"stackdeb publish --release {release} --suite {suite_name}")
        source = _earlier_state(repo, target, current["state_from"])
        if source is None:
            raise StackdebError(f"there is no earlier state of {target.label} to roll back to",
                                hint="the generations kept hold none (see stackdeb repo status)")
        keys = signing_keys(repo)
        number, work, _ = new_generation(repo, keys)
        old = repo.generation_dir(source)
        for codename in target.repo_suites:
            reprepro.remove_all(work, codename, repo.gnupg)
            files = [old / p["file"] for p in suite_packages(repo, old, codename)
                     if p["name"] != KEYRING_PACKAGE]
            if files:
                reprepro.includedeb(work, codename, files, repo.gnupg)
        include_keyring(repo, work, keys, [target])
        tested = tested_state(work)
        tested.pop(target.name, None)
        if target.name in tested_state(old):
            tested[target.name] = tested_state(old)[target.name]
        write_json(work / "tested.json", tested)
        restored = targets_state(old)[target.name]
        state = {**targets_state(work), target.name: restored}
        event = repo.stamp({"action": "rollback", "target": target.name, "generation": number,
                            "from": live, "to": source, "state_from": restored["state_from"]})
        make_live(repo, work, number, [target], keys.sign_with, state, event, keep)
    log.info(f"rolled back {target.label} to its state of generation {restored['state_from']}: "
             f"generation {number} is live (was {live})")
    return number
