"""The builders and how they chain: pipeline -> bundle (lock + bundle) -> one package builder
per service, in parallel, only for the services that changed -> publish -> cluster.

    pipeline         coordinates one run for one target; holds no stage itself
    bundle           stackdeb lock, stackdeb bundle
    package-<name>   stackdeb package <name>, then its lintian and reproducibility report
    publish          stackdeb publish, then the repository status
    cluster          placeholder: the test cluster stage does not exist yet
    promote          stackdeb promote --verdict (forced by a release engineer)
"""

from buildbot.plugins import schedulers, steps, util

from master.changes import ConstraintsScheduler, DeliverableScheduler, IndexReleaseScheduler
from master.steps import TARGET, NotBuiltYet, PackageReport, Stackdeb, TriggerPackages, plan_packages

CLUSTER_NOT_BUILT = ("The test cluster stage does not exist yet: the build set stays in the staging suite. "
                     "A release engineer promotes it with the promote builder and a verdict file "
                     "(docs/repository.md describes the verdict).")

# One pipeline at a time: the stages of two runs would otherwise share build outputs.
PIPELINE_LOCK = util.MasterLock("pipeline")


def _index(settings) -> list:
    return ["--index-url", settings.index_url] if settings.index_url else []


def _sources(settings) -> list:
    return ["--releases", settings.releases_url, "--requirements", settings.requirements_url, *_index(settings)]


def _flag(name: str, option: str):
    """`option` when the build property `name` is true, else nothing."""
    return util.Transform(lambda value: [option] if value else [], util.Property(name, default=False))


def builder_configs(settings, catalog) -> list:
    workers = [w.name for w in settings.workers]
    services = [svc.name for svc in catalog]

    def builder(name, factory, description, **kwargs):
        return util.BuilderConfig(name=name, workernames=workers, factory=factory,
                                  description=description, **kwargs)

    pipeline = util.BuildFactory([
        steps.Trigger(name="bundle", schedulerNames=["bundle"], waitForFinish=True, haltOnFailure=True,
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
        plan_packages(),
        TriggerPackages(name="packages", schedulerNames=[f"package-{s}" for s in services],
                        waitForFinish=True, haltOnFailure=True,
                        set_properties={"release": util.Property("release"), "suite": util.Property("suite"),
                                        "rebuild": util.Property("rebuild", default=False)}),
        steps.Trigger(name="publish", schedulerNames=["publish"], waitForFinish=True, haltOnFailure=True,
                      doStepIf=lambda step: step.getProperty("publish", True),
                      set_properties={"release": util.Property("release"), "suite": util.Property("suite")}),
        steps.Trigger(name="cluster", schedulerNames=["cluster"], waitForFinish=True,
                      doStepIf=lambda step: step.getProperty("publish", True)),
    ])
    bundle = util.BuildFactory([
        Stackdeb("lock", *TARGET, *_sources(settings), name="lock", description="resolving"),
        Stackdeb("bundle", *TARGET, *_index(settings), name="bundle", description="bundling"),
    ])
    publish = util.BuildFactory([
        Stackdeb("publish", *TARGET, name="publish", description="publishing to staging"),
        Stackdeb("repo", "status", *TARGET, name="status", haltOnFailure=False,
                 descriptionDone="repository status (see log)"),
    ])
    promote = util.BuildFactory([
        Stackdeb("promote", *TARGET, "--verdict", util.Property("verdict"), name="promote"),
        Stackdeb("repo", "status", *TARGET, name="status", haltOnFailure=False,
                 descriptionDone="repository status (see log)"),
    ])
    configs = [
        builder("pipeline", pipeline, "one run for one target: bundle, changed packages, publish",
                locks=[PIPELINE_LOCK.access("exclusive")]),
        builder("bundle", bundle, "stackdeb lock and stackdeb bundle"),
        *(builder(f"package-{svc.name}", util.BuildFactory([
            Stackdeb("package", *TARGET, svc.name, "--check-reproducible", _flag("rebuild", "--force"),
                     name="package", description=f"building {svc.package_name}"),
            PackageReport(svc.name),
        ]), f"stackdeb package {svc.name}: {svc.package_name}", tags=["package"]) for svc in catalog),
        builder("publish", publish, "stackdeb publish: the build set into the staging suite"),
        builder("cluster", util.BuildFactory([NotBuiltYet("cluster", CLUSTER_NOT_BUILT)]),
                "placeholder: the test cluster stage is not built yet"),
        builder("promote", promote, "stackdeb promote: staging to tested, given a passing verdict"),
    ]
    return configs


def _target_parameters(settings) -> list:
    releases = sorted({t.release for t in settings.targets})
    suites = sorted({t.suite for t in settings.targets})
    return [
        util.ChoiceStringParameter(name="release", label="Release", choices=releases, default=releases[0]),
        util.ChoiceStringParameter(name="suite", label="Suite", choices=suites, default=suites[0]),
    ]


def scheduler_configs(settings, catalog) -> list:
    services = [svc.name for svc in catalog]
    no_source = [util.CodebaseParameter(codebase="", hide=True)]
    found = [
        schedulers.Triggerable(name="bundle", builderNames=["bundle"]),
        *(schedulers.Triggerable(name=f"package-{name}", builderNames=[f"package-{name}"]) for name in services),
        schedulers.Triggerable(name="publish", builderNames=["publish"]),
        schedulers.Triggerable(name="cluster", builderNames=["cluster"]),
        schedulers.ForceScheduler(
            name="build", label="Build a target", buttonName="Build", builderNames=["pipeline"],
            codebases=no_source, reason=util.StringParameter(name="reason", label="Reason", default="forced"),
            properties=[
                *_target_parameters(settings),
                util.ChoiceStringParameter(name="services", label="Services (none selected: all)",
                                           choices=services, multiple=True, default=[]),
                util.BooleanParameter(name="rebuild", label="Rebuild even if unchanged", default=False),
                util.BooleanParameter(name="publish", label="Publish to staging", default=True),
            ]),
        schedulers.ForceScheduler(
            name="promote", label="Promote staging to tested", buttonName="Promote", builderNames=["promote"],
            codebases=no_source, reason=util.StringParameter(name="reason", label="Reason", default="promote"),
            properties=[*_target_parameters(settings),
                        util.StringParameter(name="verdict", label="Verdict file (JSON, on the worker)",
                                             required=True, size=60)]),
        DeliverableScheduler("new-release", settings.targets, catalog, settings.watched, settings.basedir),
        ConstraintsScheduler("new-constraints", settings.targets),
        IndexReleaseScheduler("new-on-index", settings.targets),
    ]
    if settings.nightly:
        hour, minute = settings.nightly
        found += [schedulers.Nightly(
            name=f"nightly-{t.name}", builderNames=["pipeline"], hour=hour, minute=minute,
            properties={"release": t.release, "suite": t.suite, "services": [], "rebuild": True,
                        "publish": True}) for t in settings.targets]
    return found
