"""A simulated RS-485 wire: two pseudo-terminal pairs joined by a timed half-duplex line.

A pty has one named end, so a serial "cable" needs two: the Modbus client opens
`client_port`, the simulated devices' RTU server opens `device_port`, and a
thread copies bytes between the two masters. The thread is where line timing
lives:

- a byte takes (1 start + 8 data + parity + stop) bit-times to cross, so a
  chunk of n bytes arrives whole at `start + n * char_time` (never earlier than
  its last byte would on a real line);
- one transmitter at a time: a frame starts only after the previous one ended
  and the line has been silent for the RTU inter-frame gap (3.5 character
  times; 1.75 ms above 19200 baud, as the Modbus serial spec fixes it), plus an
  optional device turnaround before a reply;
- bytes sent by a client whose port is set to another framing than the line's
  never reach the devices, as a real UART would see only framing or parity
  errors. The client's framing is read from its pty's termios: the baud rate
  and stop bits (CSTOPB) as pyserial sets them; the parity from INPCK and
  PARODD, because Linux ptys clear PARENB (the agent's RTU bus marks the parity
  it wants in those bits on a pty, drivers/modbus/rtu.py). So a scan sweeping
  parity finds the devices only at the line's own parity.

A thread (not the asyncio loop) keeps the timing: select() sleeps with
microsecond resolution, where the loop's epoll timers round up to milliseconds.
"""

import os
import pty
import select
import termios
import threading
import time
import tty
from pathlib import Path

MODBUS_FIXED_GAP_BAUD = 19200   # above this the spec fixes t3.5 at 1.75 ms
FIXED_GAP_S = 0.00175

_BAUD_CONSTANTS = {getattr(termios, f"B{b}"): b for b in
                   (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)}


def char_time(baudrate: int, parity: str = "N", stopbits: int = 1) -> float:
    """Seconds one byte occupies the line: start bit, 8 data bits, parity, stop bits."""
    return (1 + 8 + (0 if parity == "N" else 1) + stopbits) / baudrate


def inter_frame_gap(baudrate: int, parity: str = "N", stopbits: int = 1) -> float:
    """The RTU silent interval between frames (t3.5)."""
    if baudrate > MODBUS_FIXED_GAP_BAUD:
        return FIXED_GAP_S
    return 3.5 * char_time(baudrate, parity, stopbits)


class _End:
    """One side of the wire: a pty pair whose slave is held open by us."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)     # no echo, no newline translation: bytes are bytes
        self.port = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self.tx_end = 0.0          # when the last chunk from this side finishes on the line

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Wire:
    """A timed half-duplex serial line between a client pty and a device pty."""

    def __init__(self, baudrate: int = 9600, parity: str = "N", stopbits: int = 1,
                 turnaround_s: float = 0.0):
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.char_s = char_time(baudrate, parity, stopbits)
        self.gap_s = inter_frame_gap(baudrate, parity, stopbits)
        self.turnaround_s = turnaround_s
        self.client = _End()
        self.device = _End()
        self.link: Path | None = None
        # counters (read from any thread; ints are updated atomically under the GIL)
        self.frames_to_device = 0
        self.frames_to_client = 0
        self.bytes_to_device = 0
        self.bytes_to_client = 0
        self.dropped_mismatch = 0      # chunks lost: client port at another baud rate or framing
        self.busy_s = 0.0              # total line time spent transmitting
        # line time left idle beyond the required gap, by who was slow to talk next
        self.slack_s = {"client": 0.0, "device": 0.0}
        self._line_free = 0.0          # end of the last transmission on the line
        self._pending: list[tuple[float, int, bytes]] = []   # (deliver_at, fd, data)
        self._lock = threading.Lock()
        self._corrupt_next_reply = False
        self._prefix_next_reply = b""
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="sim.wire", daemon=True)

    @property
    def client_port(self) -> str:
        """Device name of the client end (what a Modbus master opens)."""
        return self.client.port

    @property
    def device_port(self) -> str:
        """Device name of the devices' end (what the simulated RTU server opens)."""
        return self.device.port

    def start(self, link: str | os.PathLike | None = None) -> "Wire":
        """Start copying; optionally create a symlink `link` -> the client pty."""
        if link is not None:
            self.link = Path(link)
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.symlink_to(self.client_port)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread, close both pty pairs and remove the symlink."""
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(2)
        self.client.close()
        self.device.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()

    # fault injection (thread-safe) ---------------------------------------------------

    def inject_to_client(self, data: bytes) -> None:
        """Put `data` on the line towards the client, as noise or a rogue talker would."""
        with self._lock:
            self._schedule(self.device, self.client.master, bytes(data), time.monotonic())
        os.write(self._wake_w, b"x")

    def prefix_next_reply(self, noise: bytes) -> None:
        """Put noise on the line just ahead of the next chunk a device sends."""
        self._prefix_next_reply = bytes(noise)

    def corrupt_next_reply(self) -> None:
        """Flip a bit in the next chunk a device sends (its CRC will not match)."""
        self._corrupt_next_reply = True

    # the copying thread --------------------------------------------------------------

    def _run(self):
        fds = [self.client.master, self.device.master, self._wake_r]
        while not self._stop:
            with self._lock:
                due = self._pending[0][0] if self._pending else None
            timeout = None if due is None else max(0.0, due - time.monotonic())
            try:
                readable, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                return
            now = time.monotonic()
            for fd in readable:
                if fd == self._wake_r:
                    os.read(fd, 64)
                elif fd == self.client.master:
                    self._from_client(now)
                else:
                    self._from_device(now)
            self._deliver_due()

    def _read(self, end: _End) -> bytes:
        try:
            return os.read(end.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def _from_client(self, now):
        data = self._read(self.client)
        if not data:
            return
        if not self._client_matches():
            self.dropped_mismatch += 1
            return
        with self._lock:
            if self._schedule(self.client, self.device.master, data, now):
                self.frames_to_device += 1
            self.bytes_to_device += len(data)

    def _from_device(self, now):
        data = self._read(self.device)
        if not data:
            return
        if self._corrupt_next_reply:
            self._corrupt_next_reply = False
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        if self._prefix_next_reply:
            data, self._prefix_next_reply = self._prefix_next_reply + data, b""
        with self._lock:
            if self._schedule(self.device, self.client.master, data, now,
                              extra_wait=self.turnaround_s):
                self.frames_to_client += 1
            self.bytes_to_client += len(data)

    def _schedule(self, sender: _End, dst_fd: int, data: bytes, now: float,
                  extra_wait: float = 0.0) -> bool:
        """Queue data for delivery when its last byte has crossed; True for a new frame."""
        # bytes the sender hands over while its previous chunk is still on the line
        # continue that frame (a UART FIFO); otherwise this is a new frame after a gap
        continuing = now < sender.tx_end and sender.tx_end >= self._line_free
        if continuing:
            start = sender.tx_end
        else:
            earliest = self._line_free + self.gap_s + extra_wait
            start = max(now, earliest)
            if self._line_free and now > earliest:
                self.slack_s["client" if sender is self.client else "device"] += now - earliest
        duration = len(data) * self.char_s
        sender.tx_end = self._line_free = start + duration
        self.busy_s += duration
        self._pending.append((start + duration, dst_fd, data))
        self._pending.sort(key=lambda item: item[0])
        return not continuing

    def _deliver_due(self):
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._pending or self._pending[0][0] > now:
                    return
                _, fd, data = self._pending.pop(0)
            try:
                os.write(fd, data)
            except OSError:
                pass   # nobody reads that end right now: a line with no listener

    def _client_matches(self) -> bool:
        """Whether the client's port (termios) has the line's speed, parity and stop bits."""
        try:
            attrs = termios.tcgetattr(self.client.slave)
        except termios.error:
            return True
        if client_framing(attrs) != (self.parity, self.stopbits):
            return False
        baud = _BAUD_CONSTANTS.get(attrs[5])                  # ospeed
        return baud is None or baud == self.baudrate       # unknown speeds are not judged


def client_framing(attrs: list) -> tuple[str, int]:
    """(parity, stop bits) of a pty's termios: INPCK means parity, PARODD odd (PARENB is
    cleared by every Linux pty, so it cannot tell)."""
    iflag, cflag = attrs[0], attrs[2]
    parity = "N" if not iflag & termios.INPCK else "O" if cflag & termios.PARODD else "E"
    return parity, 2 if cflag & termios.CSTOPB else 1
