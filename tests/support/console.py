"""The crew console's test peers: headless Debian chromium via Playwright, crew accounts,
a gateway config with positions and a console listener, and ConsoleRig, the one rig the
console's browser tests share (tests/e2e/test_console.py, test_console_outdoors.py)."""

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.support.broker import free_port
from tests.support.gateway_files import write_gateway

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse 7"


def launch(playwright):
    """Debian's chromium, never a downloaded browser; missing -> a failure that says why."""
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: run deploy/dev/setup.sh (apt chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def position(unit: int) -> tuple[float, float]:
    """A pole's position along an L-shaped street (unit 1 at the corner)."""
    if unit <= 4:
        return -6.1780 + 0.0002 * unit, 106.6320
    return -6.1780, 106.6320 + 0.0003 * (unit - 4)


def write_console_gateway(path: Path, broker_url: str, site_port: int, lights: int,
                          console: str = "", unplaced=(), warp_group: bool = True) -> tuple:
    """gateway.yaml with positions (except `unplaced` units), a lighting group and a console."""
    port = free_port()
    config = write_gateway(path, broker_url, site_port, lights, extra=(
        "lighting:\n  groups:\n    road: {devices: [%s], schedule: evening}\n"
        "  schedules:\n    evening: {on: sunset, off: sunrise}\n"
        % ", ".join(f"L-{u:03d}" for u in range(1, lights + 1))
        + f'console: {{listen: "127.0.0.1:{port}", history_bucket: 1s{console}}}\n'))
    text = config.read_text()
    for unit in range(1, lights + 1):
        if unit in unplaced:
            continue
        lat, lon = position(unit)
        text = text.replace(f"unit: {unit}, profile", f"unit: {unit}, location: "
                            f"{{lat: {lat:.4f}, lon: {lon:.4f}}}, profile")
    config.write_text(text)
    return config, f"http://127.0.0.1:{port}"


def lentera(*args, stdin: str | None = None):
    """Run the lentera CLI."""
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=60)


def add_crew(config: Path, name: str, role: str = "operator", password: str = PASSWORD):
    """`lentera crew add NAME --role ROLE --password-stdin`."""
    res = lentera("crew", "add", name, "-c", str(config), "--role", role, "--password-stdin",
                  stdin=password + "\n")
    assert res.returncode == 0, res.stdout + res.stderr


def wait_until(predicate, what: str, timeout: float = 20.0):
    """Wait (bounded) until predicate() is truthy and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def login(page, url: str, name: str, password: str = PASSWORD) -> None:
    """Log in through the form."""
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form.login button")


def post_action(page, fields: dict, csrf: str | None = "page") -> dict:
    """POST /api/action from the page (its cookie), with the page's CSRF token or another."""
    return page.evaluate("""([fields, csrf]) => {
        const headers = {};
        if (csrf === "page") { csrf = document.querySelector("meta[name=csrf]").content; }
        if (csrf) { headers["X-CSRF-Token"] = csrf; }
        return fetch("/api/action", {method: "POST", body: new URLSearchParams(fields),
                                     headers}).then(r => r.text().then(t => ({status: r.status,
                                                                              text: t})));
    }""", [fields, csrf])


def tonight_22h(rate: int) -> str:
    """`--time-warp` text: tonight 22:00 at the gateway (+07), `rate` times real time."""
    today = datetime.now(timezone(timedelta(hours=7))).date()
    return f"{today.isoformat()}T22:00:00+07:00,{rate}"


class ConsoleRig:
    """One module's peers for console tests: a simulated site, a private broker, the agent
    under time warp (tonight 22:00, 30x) with a console, crew accounts, and headless chromium.

    Each test opens its own phone-sized page (390x844) with page(); close() stops them all.
    """

    WARP_RATE = 30          # a 10-minute hold ends after 20 s of test time

    def __init__(self, tmp: Path, lights: int, crew=(("budi", "operator"),), console: str = "",
                 unplaced=(), extra: str = ""):
        from playwright.sync_api import sync_playwright

        from tests.conftest import AgentProcess
        from tests.support.broker import Broker
        from tests.support.site import SiteThread
        self.broker = Broker().start()
        self.site = SiteThread(lights).start()
        self.config, self.url = write_console_gateway(tmp / "gw.yaml", self.broker.url,
                                                      self.site.port, lights, console=console,
                                                      unplaced=unplaced)
        self.config.write_text(self.config.read_text() + extra)
        for name, role in crew:
            add_crew(self.config, name, role)
        self.audit = tmp / "audit.log"
        self.agent = AgentProcess(self.config, tmp / "agent.log",
                                  ["--time-warp", tonight_22h(self.WARP_RATE)])
        self.pw = sync_playwright().start()
        self.browser = launch(self.pw)
        self.started = time.monotonic()
        self.failed_at = None
        wait_until(self._up, "the console to answer", 40)

    def _up(self):
        assert self.agent.proc.poll() is None, self.agent.output()[-3000:]
        return "console listening" in self.agent.output()

    def page(self, user: str | None = "budi"):
        """A new phone-sized page, logged in as user (None: not logged in)."""
        context = self.browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        if user:
            login(page, self.url, user)
            page.wait_for_selector(".lights li[data-l]")
        return page

    def register(self, unit: int, name: str = "switch"):
        """A register of a simulated light, read on the site's thread."""
        return self.site.call(lambda: getattr(self.site.site.light(unit), name))

    def fail_lamp_3(self) -> float:
        """Inject L-003's lamp failure once, after some seconds of good history; its time."""
        if self.failed_at is None:
            time.sleep(max(0.0, 8 - (time.monotonic() - self.started)))
            self.failed_at = time.time()
            self.site.call(lambda: self.site.site.fail_lamp(3))
        return self.failed_at

    def close(self):
        self.browser.close()
        self.pw.stop()
        self.agent.terminate()
        self.site.stop()
        self.broker.stop()
