"""A test-owned Modbus RTU responder on the far end of a pty pair, framing RTU itself.

Not the simulator and not pymodbus: the point is a peer whose misbehaviour the
test scripts exactly, and whose injections it counts, so the test can check the
bus's counters against what was done to it. The client opens `path` with real
pyserial; this side reads and writes the pty master in its own thread.

Every register holds a value that names where it lives, `value(unit, table,
address)`, so any reply taken for the wrong request shows in the values.

Unit behaviours:
- "healthy": answers every request at once;
- "late": answers every other request `late_s` (30-80 ms) after the client's timeout;
- "noisy": puts one noise byte in front of every `noise_every`-th reply.
`garbage_bps` writes random bytes into the line (both ways) and now and then
splices them into a reply, as a noisy RS-485 segment does.
"""

import heapq
import os
import pty
import random
import select
import struct
import threading
import time
import tty

from drivers.modbus.rtu_frame import crc16, with_crc

TABLE_OFFSET = {3: 0, 4: 500}      # holding, input


def value(unit: int, table: str, address: int) -> int:
    """The distinctive value at (unit, table, address)."""
    return (unit * 1000 + TABLE_OFFSET[3 if table == "holding" else 4] + address) & 0xFFFF


class Responder:
    """RTU units behind a pty; `late_sent`, `noise_sent` etc. count what was injected."""

    def __init__(self, units: dict, *, timeout_s: float = 0.1, late_s=(0.03, 0.08),
                 noise_every: int = 3, garbage_bps: int = 0, seed: int = 1):
        self.units = dict(units)         # unit id -> behaviour name
        self.timeout_s = timeout_s
        self.late_s = late_s
        self.noise_every = noise_every
        self.garbage_bps = garbage_bps
        self.rng = random.Random(seed)
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.requests = {u: 0 for u in units}
        self.late_sent = 0
        self.noise_sent = 0              # noise bytes put in front of replies
        self.noise_replies = 0
        self.spliced = 0                 # replies garbage was spliced into
        self.garbage_sent = 0
        self._due: list = []             # heap of (time, seq, bytes)
        self._seq = 0
        self._buf = bytearray()
        self._stop = threading.Event()
        self.idle = threading.Event()    # set when nothing is scheduled
        self._thread = threading.Thread(target=self._run, name="rtu-responder", daemon=True)

    def start(self) -> "Responder":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def set_garbage(self, bps: int) -> None:
        """Start or stop (0) random bytes on the line."""
        self._garbage_t0, self._garbage_total = time.monotonic(), 0
        self.garbage_bps = bps

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        next_garbage = self._garbage_t0 = time.monotonic()
        self._garbage_total = 0
        while not self._stop.is_set():
            now = time.monotonic()
            wait = 0.05
            if self._due:
                wait = min(wait, max(0.0, self._due[0][0] - now))
            if self.garbage_bps:
                wait = min(wait, max(0.0, next_garbage - now))
            ready, _, _ = select.select([self.master], [], [], wait)
            if ready:
                try:
                    self._buf += os.read(self.master, 4096)
                except OSError:
                    return
                self._serve()
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                self._write(heapq.heappop(self._due)[2])
            if not self._due:
                self.idle.set()
            if self.garbage_bps and now >= next_garbage:
                # owed bytes at the rate since the start (the loop may wake late)
                owed = int((now - self._garbage_t0) * self.garbage_bps) - self._garbage_total
                chunk = self.rng.randbytes(max(1, owed))
                self._garbage_total += len(chunk)
                self._buf += chunk[:len(chunk) // 2]     # what the units hear, too
                self._write(chunk)
                self.garbage_sent += len(chunk)
                next_garbage = now + 0.01

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _schedule(self, delay: float, data: bytes) -> None:
        self.idle.clear()
        self._seq += 1
        heapq.heappush(self._due, (time.monotonic() + delay, self._seq, data))

    def _serve(self) -> None:
        """Answer every complete request in the buffer; skip bytes that start none."""
        buf = self._buf
        while len(buf) >= 8:
            length = _request_length(buf)
            if length == 0 or buf[0] not in self.units:
                del buf[0]
                continue
            if len(buf) < length:
                return
            frame = bytes(buf[:length])
            if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
                del buf[0]
                continue
            del buf[:length]
            self._answer(frame)

    def _answer(self, frame: bytes) -> None:
        unit, fc = frame[0], frame[1]
        behaviour = self.units[unit]
        self.requests[unit] += 1
        n = self.requests[unit]
        reply = _reply(frame)
        if behaviour == "late" and n % 2 == 0:
            self.late_sent += 1
            self._schedule(self.timeout_s + self.rng.uniform(*self.late_s), reply)
            return
        if behaviour == "noisy" and n % self.noise_every == 0:
            noise = self.rng.choice((0x00, 0xFF, unit, fc, self.rng.randrange(256)))
            reply = bytes([noise]) + reply
            self.noise_sent += 1
            self.noise_replies += 1
        if self.garbage_bps and self.rng.random() < 0.25:
            cut = self.rng.randrange(1, len(reply))
            reply = reply[:cut] + self.rng.randbytes(self.rng.randrange(1, 4)) + reply[cut:]
            self.spliced += 1
        self._write(reply)


def _request_length(buf) -> int:
    fc = buf[1]
    if fc in (3, 4, 6):
        return 8
    if fc == 16:
        return 9 + buf[6] if len(buf) >= 7 else 9
    return 0


def _reply(frame: bytes) -> bytes:
    unit, fc = frame[0], frame[1]
    address, count = struct.unpack(">HH", frame[2:6])
    if fc in (3, 4):
        table = "holding" if fc == 3 else "input"
        if count < 1 or count > 125:
            return with_crc(bytes([unit, fc | 0x80, 3]))
        regs = [value(unit, table, address + i) for i in range(count)]
        return with_crc(bytes([unit, fc, 2 * count]) + struct.pack(f">{count}H", *regs))
    return with_crc(frame[:6])          # 6 and 16 echo address and value / count
