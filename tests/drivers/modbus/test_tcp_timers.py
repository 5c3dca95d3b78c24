"""ModbusTcpBus's request timeouts share one timer (drivers/modbus/tcp_link.py, Deadlines)."""

import asyncio

from drivers.errors import NoReply
from drivers.modbus.device import ModbusDevice
from drivers.modbus.profile import load_profile
from tests.drivers.modbus.test_modbus_tcp import _connected, _site
from tests.support.broker import free_port

WAIT_S = 10.0         # generous cap on waits; never a timing assertion


def _count_timers(loop, bus) -> list:
    """Record the timers the bus asks the loop for from now on (call_later goes through
    call_at; the simulator and the test's own waits share the loop and are not counted)."""
    armed = []
    call_at = loop.call_at

    def counting(when, callback, *args, **kwargs):
        owner = getattr(callback, "__self__", None)
        if owner is bus or owner is getattr(bus, "_deadlines", None):
            armed.append(callback)
        return call_at(when, callback, *args, **kwargs)
    loop.call_at = counting
    return armed


def test_a_hundred_answered_polls_arm_a_few_timers_not_one_per_request():
    async def main():
        port = free_port()
        site, task = await _site(4, port)
        bus = await _connected(port, timeout_s=0.5)
        devices = [ModbusDevice(f"L-{u:03d}", bus, u, load_profile("streetlight-generic"))
                   for u in range(1, 5)]
        armed = _count_timers(asyncio.get_running_loop(), bus)
        for _ in range(25):
            results = await asyncio.wait_for(asyncio.gather(*(d.read() for d in devices)), WAIT_S)
            assert all(r["switch"] == 1 for r in results)
        polled = len(armed)
        bus.close()
        task.cancel()
        return polled
    armed = asyncio.run(main())
    # 100 polls of 2 requests each: 200 timers before, one per request
    assert armed <= 10, armed


def test_a_silent_unit_still_times_out_while_the_others_answer():
    async def main():
        port = free_port()
        site, task = await _site(2, port)
        bus = await _connected(port, timeout_s=0.2)
        profile = load_profile("streetlight-generic")
        site.set_dead(2)
        good, silent = (ModbusDevice(f"L-00{u}", bus, u, profile) for u in (1, 2))
        outcomes = []
        for _ in range(3):
            got = await asyncio.wait_for(asyncio.gather(good.read(), silent.read(),
                                                        return_exceptions=True), WAIT_S)
            outcomes.append(got)
        timeouts = bus.counters.timeouts
        bus.close()
        task.cancel()
        return outcomes, timeouts
    outcomes, timeouts = asyncio.run(main())
    for good, silent in outcomes:
        assert good["switch"] == 1
        assert isinstance(silent, NoReply), silent
    assert timeouts == 6                 # its two reads, each poll
