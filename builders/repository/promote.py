"""promote: from the build set a signed, passing verdict names to the tested suite, only what
the run installed and tested (builders/cluster/verdict.coverage)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.manifest import sha256_file, write_json
from builders.targets import Target, get_target
from builders.tools import reprepro
from builders.repository.indexes import suite_index
from builders.repository.generations import (
    Repository, build_set_of, make_live, new_generation, signing_keys, targets_state, tested_state,
)




def _promoted_generation(repo: Repository, target: Target) -> int | None:
    live = repo.live_generation()
    state = tested_state(repo.generation_dir(live)).get(target.name) if live is not None else None
    return (state or {}).get("build_set_generation")


@dataclass(frozen=True)
class Promotion:
    generation: int                 # the live generation after it
    promoted: list[str]             # the packages copied to the tested suite
    not_covered: dict[str, str]     # the build set's venv packages left as they were, and why


def promote(root: Path, release: str, suite_name: str, verdict_path: Path, verdict_keyring: Path,
            proven: Callable[[list[dict]], None] | None = None,
            needs: dict[str, list[str]] | None = None) -> Promotion:
    """Copy to the tested suite, from the build set a signed, passing verdict names (even if
    staging has moved on since the run), exactly the venv packages that run installed and
    tested (builders/cluster/verdict.coverage), each beside the versions of the services it
    `needs` that the tested suite will hold (builders/cluster/needs), with the build set's
    bundle and keyring; every other service keeps the version already promoted. Never from a
    build set older than the one last promoted. `proven` refuses packages without their
    reproducibility and lintian proof (builders/proof)."""
    from builders.cluster.needs import with_their_needs
    from builders.cluster.verdict import VENV_PREFIX, coverage, disagreements, read_verified
    target = get_target(release, suite_name)
    suite = target.suite
    repo = Repository(root)
    verdict = read_verified(verdict_path, verdict_keyring)
    if verdict.get("result") != "pass":
        failure = (verdict.get("failure") or {}).get("message", "")
        raise StackdebError(f"{verdict_path} is not a passing verdict (result: {verdict.get('result')}"
                            f"{': ' + failure if failure else ''})",
                            hint="only a build set whose cluster tests passed is promoted")
    named_target = verdict.get("target") or {}
    if (named_target.get("release"), named_target.get("suite")) != (release, suite.codename):
        raise StackdebError(f"the verdict is for {named_target.get('release')}/{named_target.get('suite')}, "
                            f"not {target.label}")
    named = verdict["build_set"]
    number = named["generation"]
    wrong = disagreements(verdict)
    if wrong:
        raise StackdebError(f"the verdict disagrees with its own build set: {wrong[0]}"
                            f"{f' (and {len(wrong) - 1} more)' if len(wrong) > 1 else ''}",
                            hint="nothing was promoted; the run did not test the build set it names")
    covered, not_covered = coverage(verdict)
    with repo.locked():
        if not repo.generation_dir(number).is_dir():
            raise StackdebError(f"the verdict's build set (generation {number}) no longer exists "
                                f"(kept: {', '.join(map(str, repo.generations()))})",
                                hint="run the cluster stage on the live build set")
        actual = build_set_of(repo, number, suite, release)
        if actual["inrelease_sha256"] != named["inrelease_sha256"] or \
                [(p["name"], p["version"], p["sha256"]) for p in actual["packages"]] != \
                [(p["name"], p["version"], p["sha256"]) for p in named["packages"]]:
            raise StackdebError(f"generation {number} is not the build set the verdict names: it changed "
                                "after the run", hint="nothing was promoted; test it again")
        promoted = _promoted_generation(repo, target)
        if promoted is not None and number < promoted:
            raise StackdebError(f"the verdict's build set (generation {number}) is older than the one "
                                f"already promoted (generation {promoted})", hint="nothing was promoted")
        tested = target.tested_suite
        live = repo.live_generation()
        already = suite_index(repo.generation_dir(live), tested) if live is not None else {}
        covered, unmet = with_their_needs(covered, verdict, needs or {}, already)
        not_covered = {**not_covered, **unmet}
        if not covered:
            raise StackdebError(f"the verdict installed and tested none of its build set's services "
                                f"({len(not_covered)} not covered): nothing to promote",
                                hint="run the cluster on a layout that installs the services to promote "
                                     "and those they need")
        # the bundle and the keyring are no service: they go with the services built and signed with them
        chosen = covered + [p for p in named["packages"] if not p["name"].startswith(VENV_PREFIX)]
        if proven:
            proven(chosen)
        if all(already.get(p["name"]) == p["version"] for p in chosen):
            log.info("the tested suite already holds what this verdict covers: nothing to do")
            return Promotion(live, [], not_covered)
        keys = signing_keys(repo)
        new, work, _ = new_generation(repo, keys)
        reprepro.includedeb(work, tested, [repo.generation_dir(number) / p["file"] for p in chosen], repo.gnupg)
        before = tested_state(work).get(target.name) or {}
        verdict_sha256 = sha256_file(verdict_path)
        write_json(work / "tested.json", {**tested_state(work), target.name: {
            "build_set_generation": number, "inrelease_sha256": named["inrelease_sha256"],
            "verdict_sha256": verdict_sha256,
            "packages": {**before.get("packages", {}), **{
                p["name"]: {"version": p["version"], "sha256": p["sha256"], "build_set_generation": number,
                            "tested_by": verdict_sha256} for p in chosen}}}})
        state = targets_state(work)
        state[target.name] = {**state[target.name], "state_from": new}
        event = repo.stamp({"action": "promote", "target": target.name, "generation": new,
                            "from": named["suite"], "to": tested,
                            "build_set_generation": number, "promoted": [p["name"] for p in chosen],
                            "not_covered": not_covered, "verdict": {
                                "sha256": verdict_sha256, "tests": len(verdict.get("tests", [])),
                                "tempest": verdict.get("tempest"),
                                "layout": (verdict.get("layout") or {}).get("name")}})
        make_live(repo, work, new, [target], keys.sign_with, state, event)
    log.info(f"promoted {len(covered)} service(s) of generation {number} from {named['suite']} to {tested}: "
             f"{', '.join(p['name'] for p in chosen)}; generation {new} is live")
    if not_covered:
        log.info("left at their tested version (not covered by this run): "
                 + "; ".join(f"{name} ({why})" for name, why in sorted(not_covered.items())))
    return Promotion(new, [p["name"] for p in chosen], not_covered)
