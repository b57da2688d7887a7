"""Where builds come from: new releases in openstack/releases, new upper-constraints on the
requirements branches, new releases on the package index; and which target and services each
change concerns.

Each scheduler here turns its changes into one buildset of the `pipeline` builder per
affected target, with the properties the pipeline reads (release, suite, services).
"""

import shutil

from buildbot.changes.base import ReconfigurablePollingChangeSource
from buildbot.plugins import changes as changesources
from buildbot.plugins import schedulers, util
from buildbot.process.properties import Properties
from buildbot.util.state import StateMixin
from twisted.internet import defer, threads, utils
from twisted.python import log

from builders.index import PackageIndex, released_versions
from builders.releases import (FINAL_VERSION_RE, SERIES_STATUS, final_versions_in, parse_deliverable_path,
                               release_ids)
from builders.errors import StackdebError

RELEASES_WORKDIR = "gitpoller-releases"
REQUIREMENTS_WORKDIR = "gitpoller-requirements"


def change_sources(settings, catalog) -> list:
    branches = sorted({t.constraints_branch for t in settings.targets})
    return [
        changesources.GitPoller(repourl=settings.releases_url, branches=["master"], category="deliverable",
                                workdir=RELEASES_WORKDIR, pollInterval=settings.poll_interval,
                                pollAtLaunch=True, project="openstack/releases"),
        changesources.GitPoller(repourl=settings.requirements_url, branches=branches, category="constraints",
                                workdir=REQUIREMENTS_WORKDIR, pollInterval=settings.poll_interval,
                                pollAtLaunch=True, project="openstack/requirements"),
        IndexPoller(name="index-releases", index_url=settings.index_url, distributions={svc.distribution: svc.name
                                                                 for svc in catalog if svc.name in settings.watched},
                    pollInterval=settings.poll_interval, pollAtLaunch=True),
    ]


def deliverable_files(files: list[str], deliverables: dict[str, str]) -> list[tuple[str, str, str]]:
    """(codename, service, path) for each changed deliverable file of a watched service;
    `deliverables` maps deliverable name to service."""
    found = []
    for path in files:
        codename, deliverable = parse_deliverable_path(path) or (None, None)
        if deliverable in deliverables:
            found.append((codename, deliverables[deliverable], path))
    return found


class TargetScheduler(schedulers.AnyBranchScheduler):
    """An AnyBranchScheduler whose buildsets carry the target and the services a change
    concerns; changes that concern no configured target start nothing."""

    def __init__(self, name, targets, **kwargs):
        super().__init__(name=name, builderNames=["pipeline"], treeStableTimer=None, **kwargs)
        self.targets = targets

    def affected(self, change: dict):
        """Deferred list of (target, services, reason); override."""
        raise NotImplementedError

    @defer.inlineCallbacks
    def addBuildsetForChanges(self, changeids=None, reason="", properties=None, **kwargs):
        result = None
        for changeid in changeids or []:
            change = yield self.master.data.get(("changes", changeid))
            try:
                affected = yield self.affected(change)
            except Exception as exc:    # bad upstream data: log it and start nothing
                log.msg(f"{self.name}: change {changeid} ignored: {exc}")
                continue
            for target, services, why in affected:
                props = Properties()
                props.update({"target": target.name, "release": target.release, "suite": target.suite,
                              "services": services,
                              "publish": True, "rebuild": False}, self.name)
                result = yield super().addBuildsetForChanges(changeids=[changeid], reason=why,
                                                             properties=props, **kwargs)
        return result


class DeliverableScheduler(TargetScheduler):
    """A commit to openstack/releases touching deliverables/<codename>/<deliverable>.yaml of a
    watched service: build that service for each target of that series."""

    def __init__(self, name, targets, catalog, watched, basedir, **kwargs):
        super().__init__(name, targets, change_filter=util.ChangeFilter(category="deliverable"), **kwargs)
        self.deliverables = {svc.deliverable: svc.name for svc in catalog if svc.name in watched}
        self.git_dir = str(basedir / RELEASES_WORKDIR)

    @defer.inlineCallbacks
    def _show(self, revision: str, path: str) -> str:
        out, err, code = yield utils.getProcessOutputAndValue(
            shutil.which("git") or "git", ["--git-dir", self.git_dir, "show", f"{revision}:{path}"])
        if code:
            raise StackdebError(f"git show {revision}:{path} failed: {err.decode().strip()}")
        return out.decode()

    @defer.inlineCallbacks
    def affected(self, change):
        files = deliverable_files(change["files"], self.deliverables)
        if not files:
            return []
        ids = release_ids((yield self._show(change["revision"], SERIES_STATUS)))
        found = []
        for codename, service, path in files:
            try:
                versions = final_versions_in((yield self._show(change["revision"], path)), path)
                newest = str(versions[-1]) if versions else "no final release"
            except StackdebError:
                # still a build: its lock step names the malformed entry for everyone to see
                newest = "(malformed deliverable)"
            release = ids.get(codename)
            for target in self.targets:
                if target.release == release:
                    found.append((target, [service], f"{service} {newest} in {codename} ({release})"))
        # one buildset per target, with every service this commit touched
        merged: dict = {}
        for target, services, reason in found:
            entry = merged.setdefault(target, ([], []))
            entry[0].extend(services)
            entry[1].append(reason)
        return [(target, services, "new release: " + "; ".join(reasons))
                for target, (services, reasons) in merged.items()]


class ConstraintsScheduler(TargetScheduler):
    """A new commit on a requirements branch changing upper-constraints.txt: rebuild that
    release's lock and bundle, then only the services whose closure changed (the pipeline's
    plan decides, so `services` is empty here)."""

    def __init__(self, name, targets, **kwargs):
        super().__init__(name, targets, change_filter=util.ChangeFilter(category="constraints"), **kwargs)

    def affected(self, change):
        if "upper-constraints.txt" not in change["files"]:
            return defer.succeed([])
        return defer.succeed([(t, [], f"upper-constraints changed on {change['branch']} "
                                       f"({(change['revision'] or '')[:12]})")
                              for t in self.targets if t.constraints_branch == change["branch"]])


class IndexReleaseScheduler(TargetScheduler):
    """A new final release of a watched service on the package index: run its pipeline for
    every target (the lock takes the service's version from openstack/releases, so this
    starts a build as soon as both agree, and does nothing more otherwise)."""

    def __init__(self, name, targets, **kwargs):
        super().__init__(name, targets, change_filter=util.ChangeFilter(category="index-release"), **kwargs)

    def affected(self, change):
        version = change["properties"].get("version", ("?", ""))[0]
        return defer.succeed([(t, [change["project"]], f"{change['project']} {version} on the package index")
                              for t in self.targets])


class IndexPoller(ReconfigurablePollingChangeSource, StateMixin):
    """Polls the package index for new final releases of the catalog's services.
    Buildbot has no such poller. The first poll only records what exists."""

    compare_attrs = ("index_url", "distributions", "pollInterval", "pollAtLaunch")

    def checkConfig(self, index_url=None, distributions=None, **kwargs):
        super().checkConfig(**kwargs)

    @defer.inlineCallbacks
    def reconfigService(self, index_url=None, distributions=None, **kwargs):
        self.index_url = index_url
        self.distributions = dict(distributions or {})
        yield super().reconfigService(**kwargs)

    def _index_url(self) -> str:
        if self.index_url:
            return self.index_url
        from builders.pipconfig import configured_index_url
        return configured_index_url()

    def _fetch(self) -> dict[str, list[str]]:
        index = PackageIndex(self._index_url())
        return {dist: sorted(v for v in released_versions(index.files(dist)) if FINAL_VERSION_RE.match(v))
                for dist in sorted(self.distributions)}

    @defer.inlineCallbacks
    def poll(self):
        try:
            current = yield threads.deferToThread(self._fetch)
        except StackdebError as exc:
            log.msg(f"index-releases: poll failed: {exc}")
            return
        known = yield self.getState("known", None)
        if known is not None:
            for dist, versions in current.items():
                for version in sorted(set(versions) - set(known.get(dist, []))):
                    yield self.master.data.updates.addChange(
                        author="package index", comments=f"{dist} {version} released on the package index",
                        category="index-release", project=self.distributions[dist],
                        properties={"version": version}, repository=self._index_url(), files=[],
                        src=None, revision=None, branch=None)
        yield self.setState("known", current)
