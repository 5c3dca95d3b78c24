"""A holds.json of the wrong shape is moved aside; the agent starts (the lights follow their
plan) instead of failing in LightingService on a KeyError (before: 'saved_at', 'expires_s')."""

import pytest

from agent.services.holds import HoldFile

WRONG = [b'{"x": 1}', b'{"saved_at": 5, "entries": [{"source": "command"}]}', b'[1, 2]',
         b'{"saved_at": "soon", "entries": []}', b'{"saved_at": 5, "entries": 3}', b'{"sav']


@pytest.mark.parametrize("content", WRONG)
def test_a_holds_file_of_the_wrong_shape_is_moved_aside_not_fatal(tmp_path, content):
    path = tmp_path / "holds.json"
    path.write_bytes(content)
    assert HoldFile(path).rearm(None, 1e9) == 0
    assert not path.exists()
    aside = list(tmp_path.glob("holds.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
