"""BuildmasterConfig from the master's settings (master.yaml) and the service catalog."""

from pathlib import Path

from buildbot.config.errors import error
from buildbot.plugins import worker

from builders.errors import StackdebError
from builders.project import Project
from master.changes import change_sources
from master.pipeline import builder_configs, scheduler_configs
from builders.buildmaster.settings import SettingsError, load_settings
from master.www import www_config


def build_config(basedir: str) -> dict:
    try:
        catalog = Project.from_env().catalog()
        settings = load_settings(Path(basedir), catalog)
        www = www_config(settings)
    except (SettingsError, StackdebError) as exc:
        # ConfigErrors: checkconfig and start print the message alone, without a traceback
        error(f"stackdeb: {exc}", always_raise=True)
    return {
        "title": settings.title,
        "titleURL": settings.url,
        "buildbotURL": settings.url,
        "db": {"db_url": settings.database},
        "protocols": {"pb": {"port": settings.worker_port}},
        "workers": [worker.Worker(w.name, w.password, max_builds=w.max_builds,
                                  properties={"stackdeb": w.stackdeb})
                    for w in settings.workers],
        "change_source": change_sources(settings, catalog),
        "schedulers": scheduler_configs(settings, catalog),
        "builders": builder_configs(settings, catalog),
        "select_next_worker": least_busy(settings),
        "www": www,
        "buildbotNetUsageData": None,
        # Buildbot merges pending requests with the same source stamp by default: one change
        # starts a pipeline per target, and merging would silently drop all but one target.
        "collapseRequests": False,
    }


def least_busy(settings):
    """Spread builds over the workers: the one running the fewest builds gets the next (a
    pipeline build only waits for the builds it started, so it does not count); on a tie, a
    worker other than the repository's, which has publishing to do."""
    repository = settings.store.worker if settings.store else None

    def choose(builder, candidates, request):
        def load(candidate):
            busy = [wfb for wfb in candidate.worker.workerforbuilders.values()
                    if wfb.isBusy() and wfb.builder_name != "pipeline"]
            return len(busy), candidate.worker.workername == repository
        return min(candidates, key=load) if candidates else None
    return choose
