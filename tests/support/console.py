"""The crew console's test peers: headless Debian chromium via Playwright, crew accounts,
and a gateway config with positions and a console listener."""

import subprocess
import sys
import time
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
