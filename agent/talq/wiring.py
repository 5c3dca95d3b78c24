"""Hooks the TALQ interface into the agent when `talq:` is configured (agent/app.py)."""

import logging
import types
from pathlib import Path

from agent.store.statefile import quarantine
from agent.talq.errors import TalqError

from agent.talq.catalog import Catalog
from agent.talq.client import LogReporter
from agent.talq.loggers import LoggerStore
from agent.talq.plans import PlanStore
from agent.talq.server import TalqServer

log = logging.getLogger(__name__)


def start_talq(agent, start) -> types.SimpleNamespace:
    """The HTTPS server (`talq.serve`) and the log-report client (`talq.reports`) with the
    logger configs they share; the returned state has `store`, `reporter`, `plans` and
    `server`."""
    talq = agent.config.talq
    path = talq.loggers_file or Path(agent.config.outbox.path).parent / "talq-loggers.json"
    store = LoggerStore(path)
    store.load(Catalog(agent, talq))
    reporter = LogReporter(agent, talq, store, agent.outbox.consumer("talq"))
    plans = PlanStore(Path(agent.config.outbox.path).parent / "talq-plans.json")
    load_plans(plans)
    state = types.SimpleNamespace(store=store, reporter=reporter, plans=plans)
    state.server = TalqServer(agent, talq, state)
    start("talq.serve", state.server.serve_loop)
    start("talq.reports", reporter.report_loop)
    return state


def load_plans(plans: PlanStore) -> None:
    """The stored programs and calendars; a corrupt file is moved aside and said so."""
    try:
        plans.load()
    except (ValueError, TypeError, KeyError, TalqError) as exc:
        aside = quarantine(plans.path)
        log.error("TALQ programs and calendars %s cannot be read (%s): moved aside to %s; the "
                  "CMS has to send them again (the lights keep the plan they run)", plans.path,
                  exc, aside.name)
