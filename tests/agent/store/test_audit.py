"""The hash-chained audit log: an edited, removed, reordered or torn line is detected."""

import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from agent.store.audit import AuditError, AuditLog, verify


def _log(path, n=4):
    log = AuditLog(path)
    log.open()
    for i in range(n):
        log.append(1000.0 + i, who="budi", action="off", lights=[f"L-00{i}"], result="ok")
    return log


def test_an_untouched_log_verifies(tmp_path):
    _log(tmp_path / "a.log")
    assert verify(tmp_path / "a.log") == (4, [])


def test_a_reopened_log_continues_the_chain(tmp_path):
    _log(tmp_path / "a.log", 2)
    _log(tmp_path / "a.log", 2)
    assert verify(tmp_path / "a.log") == (4, [])


def test_an_edited_line_is_named(tmp_path):
    path = tmp_path / "a.log"
    _log(path)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["who"] = "someone-else"
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    count, problems = verify(path)
    assert problems == ["line 3: content does not match its hash (edited)"]


def test_a_rehashed_edit_still_breaks_the_chain_at_the_next_line(tmp_path):
    from agent.store.audit import entry_hash
    path = tmp_path / "a.log"
    _log(path)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["result"] = "refused"
    entry["hash"] = entry_hash(entry)               # a forger recomputes this line's hash
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    assert verify(path)[1] == ["line 3: does not follow line 2 (a line was removed, inserted "
                               "or reordered)"]


@pytest.mark.parametrize("change", ["remove", "swap"])
def test_a_removed_or_reordered_line_is_detected(tmp_path, change):
    path = tmp_path / "a.log"
    _log(path)
    lines = path.read_text().splitlines()
    if change == "remove":
        del lines[1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    assert verify(path)[1]


def test_a_torn_last_line_is_kept_as_evidence_and_the_chain_resumes(tmp_path, caplog):
    path = tmp_path / "a.log"
    _log(path, 2)
    with open(path, "ab") as fh:
        fh.write(b'{"action":"off","who":"bu')        # power cut mid-write
    log = AuditLog(path)
    log.open()
    assert "damaged line" in caplog.text
    log.append(2000.0, who="budi", action="on", result="ok")
    count, problems = verify(path)
    assert count == 5 and problems == ["line 3: not JSON (torn or edited)"]
    resumed = json.loads(path.read_text().splitlines()[3])
    assert resumed["action"] == "chain_resumed"
    assert resumed["after"] == "line 3: not JSON (torn or edited)"


def test_an_unwritable_log_says_what_to_do(tmp_path):
    os.mkdir(tmp_path / "a.log")                    # not a file: even root cannot append
    log = AuditLog(tmp_path / "a.log")
    with pytest.raises(AuditError, match="action was not taken"):
        log.append(1.0, who="x", action="off")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_verify_reports_any_garbage_and_never_raises(tmp_path_factory, garbage):
    path = tmp_path_factory.mktemp("fuzz") / "a.log"
    _log(path, 2)
    with open(path, "ab") as fh:
        for raw in garbage:
            fh.write(raw.replace(b"\n", b" ") + b"\n")
    count, problems = verify(path)
    assert count == 2 + len(garbage)
    assert len(problems) == len(garbage)              # each foreign line named, once
    log = AuditLog(path)
    log.open()
    log.append(3.0, who="x", action="on")


# Review finding 8: the chain alone has no anchor at its newest end. Each of these passed
# `verify` before the sealed head file (seen failing on the old code).

def test_deleting_the_newest_lines_is_detected(tmp_path):
    path = tmp_path / "a.log"
    _log(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")
    assert verify(path)[1] == ["2 newest entries missing: the sealed head records 4, the log "
                               "holds 2 (lines removed from the end, or the file emptied)"]


def test_emptying_the_log_is_detected(tmp_path):
    path = tmp_path / "a.log"
    _log(path)
    path.write_bytes(b"")
    count, problems = verify(path)
    assert count == 0 and problems and "4 newest entries missing" in problems[0]


def test_a_re_chained_edit_is_detected(tmp_path):
    from agent.store.audit import GENESIS, entry_hash
    path = tmp_path / "a.log"
    _log(path)
    prev, out = GENESIS, []
    for i, raw in enumerate(path.read_text().splitlines()):
        entry = json.loads(raw)
        if i == 1:
            entry["result"] = "refused"
        entry["prev"] = prev
        entry["hash"] = prev = entry_hash(entry)     # a forger recomputes the whole chain
        out.append(json.dumps(entry, sort_keys=True, separators=(",", ":")))
    path.write_text("\n".join(out) + "\n")
    assert verify(path)[1] == ["entry 4 is not the one the head sealed: the log was re-chained "
                               "(lines edited or replaced and their hashes recomputed)"]


def test_a_forged_head_without_the_key_is_detected(tmp_path):
    path = tmp_path / "a.log"
    _log(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")
    head = json.loads((tmp_path / "a.log.head").read_text())
    head.update(entries=2, last=json.loads(lines[1])["hash"])
    (tmp_path / "a.log.head").write_text(json.dumps(head))
    assert verify(path)[1] == [f"the head file {tmp_path / 'a.log.head'} does not match its "
                               "seal: it was edited"]


def test_a_deleted_head_is_detected(tmp_path):
    path = tmp_path / "a.log"
    _log(path)
    (tmp_path / "a.log.head").unlink()
    assert "no sealed head file" in verify(path)[1][0]


def test_a_truncation_found_at_start_stays_on_the_record(tmp_path, caplog):
    path = tmp_path / "a.log"
    _log(path)
    path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n")
    log = AuditLog(path)
    log.open()
    assert "does not match its sealed head" in caplog.text
    assert "1 newest entry missing" in verify(path)[1][0]     # open() did not reseal it away
    log.append(5000.0, who="budi", action="on", result="ok")
    problems = verify(path)[1]
    assert problems == ["line 4: the agent found the head broken at a start: 1 newest entry "
                        "missing: the sealed head records 4, the log holds 3 (lines removed "
                        "from the end, or the file emptied)"]


def test_a_power_cut_between_line_and_head_is_not_tampering(tmp_path):
    path = tmp_path / "a.log"
    _log(path, 3)
    saved = (tmp_path / "a.log.head").read_bytes()
    _log(path, 1)
    (tmp_path / "a.log.head").write_bytes(saved)    # the head's rename never happened
    assert verify(path) == (4, [])
    log = AuditLog(path)
    log.open()                                       # resealed at the next start
    assert json.loads((tmp_path / "a.log.head").read_text())["entries"] == 4


def test_an_empty_log_with_no_head_is_no_actions_yet(tmp_path):
    from click.testing import CliRunner
    from agent.cli.console import audit_verify
    path = tmp_path / "a.log"
    for make in (lambda: None, lambda: path.write_bytes(b"")):
        make()
        result = CliRunner().invoke(audit_verify, ["--file", str(path)])
        assert result.exit_code == 0 and "no actions recorded yet" in result.output
    _log(path)
    path.write_bytes(b"")
    result = CliRunner().invoke(audit_verify, ["--file", str(path)])
    assert result.exit_code == 1 and "4 newest entries missing" in result.output


# Review finding 9: the log rotates by size, and the chain and its head cover the rotated files.

def _rotating(path, n):
    log = AuditLog(path, max_bytes=600, keep=2)
    log.open()
    for i in range(n):
        log.append(1000.0 + i, who="budi", action="off", lights=[f"L-{i:03}"], result="ok")
    return log


def test_the_log_rotates_by_size_and_verifies_across_its_files(tmp_path):
    path = tmp_path / "a.log"
    _rotating(path, 15)
    _rotating(path, 15)                                   # reopened: the chain goes on
    assert (tmp_path / "a.log.1").exists() and (tmp_path / "a.log.2").exists()
    assert not (tmp_path / "a.log.3").exists()            # the oldest was dropped
    assert all(p.stat().st_size <= 600 for p in tmp_path.glob("a.log*") if p.suffix != ".key")
    count, problems = verify(path)
    assert problems == [] and 3 <= count < 30
    head = json.loads((tmp_path / "a.log.head").read_text())
    assert head["entries"] == count and head["first"] != "0" * 64


@pytest.mark.parametrize("gone", ["a.log.2", "a.log.1"])
def test_removing_a_rotated_file_is_detected(tmp_path, gone):
    path = tmp_path / "a.log"
    _rotating(path, 30)
    (tmp_path / gone).unlink()
    assert verify(path)[1]


def test_truncating_the_live_file_after_rotation_is_detected(tmp_path):
    path = tmp_path / "a.log"
    _rotating(path, 30)
    path.write_bytes(b"")
    assert "newest entr" in verify(path)[1][0]


def test_a_key_torn_at_its_first_write_is_made_again_not_used(tmp_path):
    # a power cut while the agent first wrote audit.log.key left it empty: before, the head
    # was then sealed with an empty HMAC key for ever
    (tmp_path / "audit.log.key").write_bytes(b"")
    log = _log(tmp_path / "audit.log")
    key = (tmp_path / "audit.log.key").read_bytes()
    assert len(key) == 32
    assert os.stat(tmp_path / "audit.log.key").st_mode & 0o777 == 0o600
    assert verify(tmp_path / "audit.log") == (4, [])


def test_head_and_key_deleted_together_are_an_anchor_missing_not_a_fresh_install(tmp_path):
    """Before: with audit.log, its head and its key deleted, the rotated files left behind
    gave "no actions recorded yet" and exit 0, as on a gateway nobody had used."""
    from click.testing import CliRunner
    from agent.cli.console import audit_verify
    path = tmp_path / "a.log"
    _rotating(path, 6)
    assert (tmp_path / "a.log.1").exists()
    for name in ("a.log.head", "a.log.key"):
        (tmp_path / name).unlink()
    result = CliRunner().invoke(audit_verify, ["--file", str(path)])
    assert result.exit_code == 1 and "anchor missing" in result.output, result.output
    assert "no key a.log.key" in result.output
    path.unlink()                                    # the newest file too
    result = CliRunner().invoke(audit_verify, ["--file", str(path)])
    assert result.exit_code == 1 and "anchor missing" in result.output, result.output
    assert "no actions recorded yet" not in result.output


def test_only_older_rotated_files_left_is_never_a_fresh_install(tmp_path):
    """Before (review): the check for a fresh log stopped at the first missing rotated file, so
    with audit.log, .1 and the head deleted, .2 left gave "no actions recorded yet"."""
    from click.testing import CliRunner
    from agent.cli.console import audit_verify
    path = tmp_path / "a.log"
    _rotating(path, 12)
    assert (tmp_path / "a.log.2").exists()
    for name in ("a.log", "a.log.1", "a.log.head"):
        (tmp_path / name).unlink()
    result = CliRunner().invoke(audit_verify, ["--file", str(path)])
    assert result.exit_code == 1, result.output
    assert "no actions recorded yet" not in result.output
