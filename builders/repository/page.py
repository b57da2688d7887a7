"""The repository's status page for people (index.html, served with the repository).

Written into each new generation before it goes live, so the page always describes exactly
what is served: every target's staging and tested suites, each package's version in both,
when it landed, and the signed verdict that promoted the tested build set.
"""

import html
import json
from pathlib import Path

from builders.manifest import read_json
from builders.repository.indexes import suite_index

PAGE = "index.html"


def _suites(work: Path) -> list[tuple[str, str]]:
    """(staging, tested) codename pairs of every target in the generation."""
    names = {p.name for p in (work / "dists").iterdir() if p.is_dir()} if (work / "dists").is_dir() else set()
    return sorted((name, name[:-len("-staging")]) for name in names if name.endswith("-staging"))


def _landed(history: list[dict], suite: str) -> dict[str, str]:
    """package -> when its current version reached `suite` (newest event naming it)."""
    landed: dict[str, str] = {}
    for event in history:
        if event.get("action") == "publish" and event.get("suite") == suite:
            for name, version in (event.get("packages") or {}).items():
                landed[f"{name}={version}"] = landed.get(f"{name}={version}") or event["at"]
    return landed


def _promotions(history: list[dict], tested: str) -> list[dict]:
    return [e for e in history if e.get("action") == "promote" and e.get("to") == tested]


def _tested_by(work: Path, tested: str) -> dict[str, str]:
    """Package -> sha256 of the verdict that installed its tested version (tested.json)."""
    suite, _, release = tested.partition("-")
    state = (read_json(work / "tested.json") or {}).get(f"{release}-{suite}") or {}
    return {name: entry.get("tested_by", "") for name, entry in (state.get("packages") or {}).items()
            if entry.get("tested_by")}


def render(work: Path, number: int, history: list[dict], gnupg: Path) -> str:
    esc = html.escape
    parts = ["<!doctype html><html lang=en><meta charset=utf-8>",
             "<title>stackdeb repository</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
             ".differs{background:#fff3cd}</style>",
             f"<h1>stackdeb repository</h1><p>Generation {number}. Suites are signed by the "
             "archive key (<a href=stackdeb-archive-keyring.gpg>stackdeb-archive-keyring.gpg</a>); "
             "each target has a staging suite (built, not yet cluster-tested) and a tested suite "
             "(promoted after the test cluster passed).</p>"]
    for staging, tested in _suites(work):
        staged = suite_index(work, staging)
        promoted = suite_index(work, tested)
        landed = _landed(history, staging)
        parts.append(f"<h2>{esc(tested)}</h2><p>apt sources: <a href=stackdeb-{esc(staging)}.sources>staging</a>, "
                     f"<a href=stackdeb-{esc(tested)}.sources>tested</a></p>")
        promotions = _promotions(history, tested)
        if promotions:
            last = promotions[-1]
            verdict = last.get("verdict") or {}
            tempest = verdict.get("tempest") or {}
            parts.append(f"<p>Tested build set: generation {last.get('build_set_generation')}, promoted "
                         f"{esc(last['at'])} by {esc(str(last.get('by')))} on a passing verdict "
                         f"(layout {esc(str(verdict.get('layout')))}, {verdict.get('tests')} tests, "
                         f"Tempest {esc(json.dumps(tempest))}; verdict sha256 "
                         f"<code>{esc(str(verdict.get('sha256'))[:16])}</code>).</p>")
        else:
            parts.append("<p>Nothing promoted yet: the tested suite holds no cluster-tested build set.</p>")
        tested_by = _tested_by(work, tested)
        by_verdict = {(e.get("verdict") or {}).get("sha256"): e for e in promotions}
        left_out = (promotions[-1].get("not_covered") or {}) if promotions else {}
        parts.append("<table><tr><th>package<th>staging<th>landed in staging<th>tested<th>tested by</tr>")
        for name in sorted(set(staged) | set(promoted)):
            version = staged.get(name, "-")
            same = version == promoted.get(name)
            proof = by_verdict.get(tested_by.get(name)) or {}
            layout = (proof.get("verdict") or {}).get("layout")
            said = (f" ({'layout ' + esc(str(layout)) + ', ' if layout else ''}promoted {esc(proof['at'])})"
                    if proof else "")
            why = (f"verdict <code>{esc(tested_by[name][:16])}</code>{said}" if same and name in tested_by else
                   esc(f"not covered by the last promotion: {left_out[name]}") if name in left_out else
                   "" if same else "waiting for a cluster run")
            parts.append(f"<tr{'' if same else ' class=differs'}><td>{esc(name)}<td>{esc(version)}"
                         f"<td>{esc(landed.get(f'{name}={version}', '-'))}<td>{esc(promoted.get(name, '-'))}"
                         f"<td>{why}</tr>")
        parts.append("</table>")
    recent = [e for e in history if e.get("action")][-10:]
    parts.append("<h2>Recent changes</h2><ul>")
    for event in reversed(recent):
        what = event.get("suite") or event.get("to") or event.get("step") or ""
        parts.append(f"<li>{esc(event['at'])} {esc(event['action'])} {esc(str(what))} "
                     f"(generation {esc(str(event.get('generation', event.get('to', ''))))}) "
                     f"by {esc(str(event.get('by')))}</li>")
    parts.append("</ul></html>\n")
    return "\n".join(parts)


def write_status_page(work: Path, number: int, history: list[dict], gnupg: Path) -> None:
    """The page for generation `number`; `history` counts the change being made as done."""
    (work / PAGE).write_text(render(work, number, history, gnupg))
