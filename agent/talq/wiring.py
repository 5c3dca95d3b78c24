"""Hooks the TALQ interface into the agent when `talq:` is configured (agent/app.py)."""

import types
from pathlib import Path

from agent.talq.catalog import Catalog
from agent.talq.client import LogReporter
from agent.talq.loggers import LoggerStore
from agent.talq.server import TalqServer


def start_talq(agent, start) -> types.SimpleNamespace:
    """The HTTPS server (`talq.serve`) and the log-report client (`talq.reports`) with the
    logger configs they share; the returned state has `store`, `reporter` and `server`."""
    talq = agent.config.talq
    path = talq.loggers_file or Path(agent.config.outbox.path).parent / "talq-loggers.json"
    store = LoggerStore(path)
    store.load(Catalog(agent, talq))
    reporter = LogReporter(agent, talq, store, agent.outbox.consumer("talq"))
    state = types.SimpleNamespace(store=store, reporter=reporter)
    state.server = TalqServer(agent, talq, state)
    start("talq.serve", state.server.serve_loop)
    start("talq.reports", reporter.report_loop)
    return state
