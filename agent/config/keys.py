"""The gateway's command key file, read and checked at start-up."""

import re
from pathlib import Path

from agent.errors import ConfigError

MIN_KEY_BYTES = 32
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def load_key(path: str) -> bytes:
    """The gateway's command key: a file holding >= 32 bytes as hex; ConfigError otherwise."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("commands.key_file", f"cannot read {path}: {exc}") from exc
    if not _HEX.match(text) or len(text) % 2 or len(text) < 2 * MIN_KEY_BYTES:
        raise ConfigError("commands.key_file", f"{path} must hold at least {MIN_KEY_BYTES} "
                          "bytes as hex (e.g. `openssl rand -hex 32 > cmd.key`)")
    return bytes.fromhex(text)
