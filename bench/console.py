"""The crew console's weight and cost: first-load bytes and time to first render with N
lights on loopback, and the agent's extra CPU and RSS while a phone keeps it open.

    .venv/bin/python bench/console.py [--lights 500] [--window 60]
    .venv/bin/python bench/console.py --screenshots docs/     # the README's pictures

Everything runs on this machine: a private mosquitto, the simulator (in this process), the
agent (a subprocess, measured from /proc) and headless Debian chromium via Playwright.
"""

import argparse
import os
import sys
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import AgentProcess  # noqa: E402
from tests.support.broker import Broker, free_port  # noqa: E402
from tests.support.console import (add_crew, launch, login, wait_until,  # noqa: E402
                                   write_console_gateway)
from tests.support.site import SiteThread  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    """Resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_share(pid: int, seconds: float, during=None) -> float:
    """Percent of one core the process used over `seconds` (calling during() each second)."""
    start, t0 = cpu_s(pid), time.monotonic()
    while time.monotonic() - t0 < seconds:
        if during is not None:
            during()
        time.sleep(1.0)
    return 100 * (cpu_s(pid) - start) / (time.monotonic() - t0)


def first_load(browser, url: str) -> dict:
    """Bytes over the wire and paint times of a fresh (uncached) load of the site list."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    login(page, url, "bench")
    page.wait_for_selector(".lights li[data-l]")
    state = context.storage_state()                    # the session cookie, not the cache
    context.close()
    context = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=state)
    page = context.new_page()
    finished = []

    def keep(request):
        finished.append(request)
    page.on("requestfinished", keep)
    t0 = time.monotonic()
    page.goto(url + "/", wait_until="load")
    page.wait_for_selector(".lights li[data-l]")
    wall = time.monotonic() - t0
    page.remove_listener("requestfinished", keep)
    sizes = [r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]
             for r in list(finished)]
    paint = page.evaluate("""() => {
        const p = performance.getEntriesByName('first-contentful-paint')[0];
        const n = performance.getEntriesByType('navigation')[0];
        return {fcp: p ? p.startTime : null, dcl: n.domContentLoadedEventEnd,
                html: n.transferSize, decoded: n.decodedBodySize};
    }""")
    rows = page.locator(".lights li[data-l]").count()
    return {"bytes": sum(sizes), "requests": len(sizes), "wall_s": wall, "rows": rows,
            "page": page, "context": context, **paint}


PER_BUS = 200                 # Modbus units per line stay under 247


def fleet_config(path: Path, broker_url: str, ports: list, lights: int, poll: str) -> str:
    """gateway.yaml for `lights` poles on a grid, PER_BUS per simulated line."""
    port = free_port()
    buses = "\n".join(f"  lan{i}: {{type: modbus-tcp, host: 127.0.0.1, port: {p}, "
                      "timeout_ms: 500}" for i, p in enumerate(ports))
    devices = "\n".join(
        f"  - {{id: L-{n:03d}, bus: lan{(n - 1) // PER_BUS}, unit: {(n - 1) % PER_BUS + 1}, "
        f"profile: streetlight-generic, poll: {poll}, location: {{lat: "
        f"{-6.178 - 0.0003 * ((n - 1) // 25):.4f}, lon: {106.632 + 0.0003 * ((n - 1) % 25):.4f}}}}}"
        for n in range(1, lights + 1))
    ids = ", ".join(f"L-{n:03d}" for n in range(1, lights + 1))
    path.write_text(f"""gateway: {{id: bench-gw, site: bench, location: {{lat: -6.178, lon: 106.632}},
          timezone: Asia/Jakarta}}
uplink:
  mqtt: {{url: "{broker_url}", topic_prefix: city/lighting}}
buses:
{buses}
devices:
{devices}
lighting:
  groups:
    road: {{devices: [{ids}], schedule: evening}}
  schedules:
    evening: {{on: sunset, off: sunrise}}
console: {{listen: "127.0.0.1:{port}", refresh: 5s}}
""")
    return f"http://127.0.0.1:{port}"


def baseline(config: Path, tmp: Path, window: float) -> tuple:
    """CPU and RSS of the same agent with the console section removed."""
    plain = tmp / "plain.yaml"
    text = config.read_text()
    plain.write_text(text[:text.index("console:")])
    agent = AgentProcess(plain, tmp / "plain.log")
    try:
        time.sleep(15)
        return cpu_share(agent.proc.pid, window), rss_mb(agent.proc.pid)
    finally:
        agent.terminate()


def run(lights: int, window: float) -> None:
    """Start the peers, measure, print."""
    tmp = Path(tempfile.mkdtemp(prefix="lentera-bench-console-"))
    broker = Broker().start()
    sites = [SiteThread(min(PER_BUS, lights - i)).start() for i in range(0, lights, PER_BUS)]
    site = sites[0]
    poll = "10s" if lights > 100 else "1s"
    config = tmp / "gw.yaml"
    url = fleet_config(config, broker.url, [s.port for s in sites], lights, poll)
    add_crew(config, "bench")
    plain_cpu, plain_rss = baseline(config, tmp, window)
    agent = AgentProcess(config, tmp / "agent.log")
    pw = sync_playwright().start()
    browser = launch(pw)
    try:
        wait_until(lambda: "console listening" in agent.output(), "the console", 60)
        time.sleep(15)                                 # first polls, first history
        pid = agent.proc.pid
        load = first_load(browser, url)
        load["context"].close()
        # alternate closed / open windows so the machine's other load falls on both alike
        closed, opened, open_rss = [], [], 0.0
        for _ in range(3):
            closed.append(cpu_share(pid, window / 3))
            idle_rss = rss_mb(pid)
            context = browser.new_context(viewport={"width": 390, "height": 844})
            page = context.new_page()
            login(page, url, "bench")
            page.wait_for_selector(".lights li[data-l]")
            opened.append(cpu_share(pid, window / 3))   # the page refreshes itself every 5 s
            open_rss = rss_mb(pid)
            context.close()
        idle_cpu, open_cpu = sum(closed) / 3, sum(opened) / 3
        print(f"lights={lights} poll={poll} window={window:.0f}s")
        print(f"first load: {load['bytes'] / 1024:.1f} kB over the wire in {load['requests']} "
              f"requests (HTML {load['html'] / 1024:.1f} kB compressed, "
              f"{load['decoded'] / 1024:.1f} kB decoded), {load['rows']} rows")
        print(f"first contentful paint {load['fcp']:.0f} ms, DOMContentLoaded "
              f"{load['dcl']:.0f} ms, until rows present {load['wall_s'] * 1000:.0f} ms")
        print(f"agent without console section: CPU {plain_cpu:.1f}% of a core, RSS "
              f"{plain_rss:.1f} MB")
        print(f"agent CPU: {idle_cpu:.1f}% of a core console closed, {open_cpu:.1f}% open and "
              f"refreshing (+{open_cpu - idle_cpu:.1f} points)")
        print(f"agent RSS: {idle_rss:.1f} MB closed, {open_rss:.1f} MB open")
        print(f"  windows closed {', '.join(f'{c:.1f}' for c in closed)}; open "
              f"{', '.join(f'{c:.1f}' for c in opened)}")
    finally:
        browser.close()
        pw.stop()
        agent.terminate()
        for s in sites:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        broker.stop()


def screenshots(page, url: str, site, folder: Path) -> None:
    """Site list, map and a plot at 390x844, as PNG in folder."""
    page.goto(url + "/")
    page.wait_for_selector(".lights li[data-l]")
    page.screenshot(path=str(folder / "console-site.png"))
    page.goto(url + "/map")
    page.locator('circle[data-l="L-002"]').click()
    page.screenshot(path=str(folder / "console-map.png"))
    page.goto(url + "/plots?of=device:L-003")
    page.screenshot(path=str(folder / "console-plot.png"))
    page.goto(url + "/events")
    page.screenshot(path=str(folder / "console-events.png"))


def screenshot_run(folder: Path) -> None:
    """A small site with a story for the pictures: an override, a lamp failing."""
    tmp = Path(tempfile.mkdtemp(prefix="lentera-shots-"))
    broker = Broker().start()
    site = SiteThread(12).start()
    config, url = write_console_gateway(tmp / "gw.yaml", broker.url, site.port, 12,
                                        console=", history_bucket: 2s")
    add_crew(config, "budi")
    evening = time.strftime("%Y-%m-%dT22:00:00+07:00", time.gmtime(time.time() + 7 * 3600))
    agent = AgentProcess(config, tmp / "agent.log", ["--time-warp", evening])
    pw = sync_playwright().start()
    browser = launch(pw)
    try:
        wait_until(lambda: "console listening" in agent.output(), "the console", 60)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        login(page, url, "budi")
        page.wait_for_selector(".lights li[data-l]")
        time.sleep(40)
        site.call(lambda: site.site.fail_lamp(3))
        page.evaluate("""() => fetch('/api/action', {method: 'POST', headers: {'X-CSRF-Token':
            document.querySelector('meta[name=csrf]').content}, body: new URLSearchParams(
            {op: 'off', devices: 'L-005', hold_s: '1800'})})""")
        page.evaluate("""() => fetch('/api/action', {method: 'POST', headers: {'X-CSRF-Token':
            document.querySelector('meta[name=csrf]').content}, body: new URLSearchParams(
            {op: 'dim', devices: 'L-008,L-009', dim: '40', hold_s: '3600'})})""")
        time.sleep(25)
        folder.mkdir(parents=True, exist_ok=True)
        screenshots(page, url, site, folder)
    finally:
        browser.close()
        pw.stop()
        agent.terminate()
        site.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    """Parse arguments and run."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lights", type=int, default=500)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per CPU window")
    ap.add_argument("--screenshots", type=Path, default=None,
                    help="only take the README's screenshots into this folder")
    args = ap.parse_args()
    if args.screenshots is not None:
        screenshot_run(args.screenshots)
    else:
        run(args.lights, args.window)


if __name__ == "__main__":
    main()
