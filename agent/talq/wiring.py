"""Hooks the TALQ interface into the agent when `talq:` is configured (agent/app.py)."""

import logging
import types
from pathlib import Path

from agent.talq.bootstrap import Bootstrap
from agent.talq.catalog import Catalog
from agent.talq.client import LogReporter
from agent.talq.loggers import LoggerStore
from agent.talq.packages import MismatchLog
from agent.talq.plans import PlanStore
from agent.talq.sampler import Sampler
from agent.talq.server import TalqServer

log = logging.getLogger(__name__)


def start_talq(agent, start) -> types.SimpleNamespace:
    """The HTTPS server (`talq.serve`), the log-report client (`talq.reports`) and the
    periodic sampler (`talq.sampling`) with the logger configs they share, and the bootstrap
    with the CMS (`talq.bootstrap`); the returned state has `store`, `reporter`, `plans`,
    `bootstrap`, `sampler`, `packages`
    (the refused data packages' counts) and `server`."""
    talq = agent.config.talq
    path = Path(talq.loggers_file or Path(agent.config.outbox.path).parent / "talq-loggers.json")
    store = LoggerStore(path)
    store.load(Catalog(agent, talq), told(agent, "the CMS has to send its logger configs "
                                                 "again"))
    bootstrap = Bootstrap(agent, talq, path.with_name("talq-bootstrap.json"),
                          told(agent, "the gateway bootstraps with its CMS again"))
    reporter = LogReporter(agent, talq, store, agent.outbox.consumer("talq"), bootstrap.done)
    plans = PlanStore(Path(agent.config.outbox.path).parent / "talq-plans.json")
    plans.load(told(agent, "the CMS has to send its programs and calendars again (the lights "
                          "keep the plan they run)"))
    sampler = Sampler(agent, talq, store, path.with_name("talq-sampler.json"),
                      told(agent, "one-shot samples may be taken again"))
    state = types.SimpleNamespace(store=store, reporter=reporter, plans=plans,
                                  bootstrap=bootstrap, sampler=sampler,
                                  packages=MismatchLog())
    state.server = TalqServer(agent, talq, state)
    start("talq.serve", state.server.serve_loop)
    start("talq.bootstrap", bootstrap.run_loop)
    start("talq.reports", reporter.report_loop)
    start("talq.sampling", sampler.sample_loop)
    return state


def told(agent, what_next: str):
    """on_corrupt for a TALQ state file: say what the CMS must do, and tell the city."""
    def on_corrupt(path, aside, exc):
        log.error("TALQ state %s was moved aside: %s", path, what_next)
        agent.state_file_corrupt(path, aside, exc)
    return on_corrupt
