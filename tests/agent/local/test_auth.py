"""Crew accounts (scrypt, atomic file), sessions and the growing lock-out, on injected clocks."""

import json
import os

import pytest

from agent.local.accounts import AccountError, Accounts, check_password, hash_password
from agent.local.auth import MAX_SESSIONS, Lockout, Sessions, csrf_ok


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_password_is_stored_as_scrypt_and_checked(tmp_path):
    stored = hash_password("lamp post 17", n=2 ** 10)
    assert stored.startswith("scrypt$1024$8$1$") and "lamp post 17" not in stored
    assert check_password("lamp post 17", stored)
    assert not check_password("lamp post 18", stored)
    assert not check_password("x", "md5$abc") and not check_password("x", "garbage")


def test_accounts_are_added_atomically_private_and_seen_without_restart(tmp_path):
    accounts = Accounts(tmp_path / "crew.json")
    assert accounts.reload() == {} and accounts.check("budi", "whatever1") is None
    other = Accounts(tmp_path / "crew.json")        # the running console's copy
    accounts.add("budi", "lamp post 17", "operator")
    accounts.add("sari", "lamp post 18", "viewer")
    assert oct(os.stat(tmp_path / "crew.json").st_mode & 0o777) == "0o640"   # its folder's group reads it
    assert other.check("budi", "lamp post 17") == "operator"
    assert other.check("sari", "lamp post 18") == "viewer"
    assert other.check("sari", "lamp post 17") is None
    assert other.check("nobody", "lamp post 17") is None
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("name, password, role, message", [
    ("bu di", "lamp post 17", "operator", "crew name"),
    ("budi", "short", "operator", "shorter than 8"),
    ("budi", "lamp post 17", "admin", "viewer or operator"),
])
def test_bad_accounts_are_refused_with_the_fix(tmp_path, name, password, role, message):
    with pytest.raises(AccountError, match=message):
        Accounts(tmp_path / "crew.json").add(name, password, role)


def test_a_corrupt_accounts_file_is_moved_aside_and_nobody_gets_in(tmp_path, caplog):
    (tmp_path / "crew.json").write_text('{"accounts": {"budi": {"role": "operator"')
    accounts = Accounts(tmp_path / "crew.json")
    assert accounts.reload() == {}
    assert (tmp_path / "crew.json.corrupt").exists() and "moved to" in caplog.text
    (tmp_path / "crew.json").write_text(json.dumps({"accounts": {"x": {"role": "root",
                                                                       "hash": "h"}}}))
    assert Accounts(tmp_path / "crew.json").reload() == {}     # unknown roles never load


def test_sessions_end_when_idle_or_too_old():
    clock = Clock()
    sessions = Sessions(idle_s=60, max_s=300, clock=clock)
    s = sessions.open("budi", "operator")
    clock.t += 59
    assert sessions.get(s.token) is s
    clock.t += 61
    assert sessions.get(s.token) is None             # idle too long
    s = sessions.open("budi", "operator")
    for _ in range(6):
        clock.t += 50
        assert sessions.get(s.token) is s
    clock.t += 1
    assert sessions.get(s.token) is None             # logged in over max_s ago
    assert sessions.get(None) is None and sessions.get("forged") is None


def test_sessions_are_bounded_and_csrf_is_per_session():
    sessions = Sessions(60, 300, clock=Clock())
    first = sessions.open("a", "viewer")
    for _ in range(MAX_SESSIONS):
        sessions.open("b", "viewer")
    assert len(sessions.by_token) == MAX_SESSIONS and sessions.get(first.token) is None
    one, two = sessions.open("c", "operator"), sessions.open("c", "operator")
    assert csrf_ok(one, one.csrf) and not csrf_ok(one, two.csrf)
    assert not csrf_ok(one, None) and not csrf_ok(one, "")


def test_lockout_grows_per_account_and_per_address_and_a_good_login_clears_it():
    clock = Clock()
    lock = Lockout(after=3, base_s=30, max_s=100, clock=clock)
    keys = ("user:budi", "addr:10.0.0.7")
    assert lock.failed(*keys) == 0 and lock.failed(*keys) == 0
    assert lock.failed(*keys) == 30                  # third failure: locked 30 s
    assert lock.wait_s("user:budi", "addr:10.0.0.9") == 30   # the account, from anywhere
    assert lock.wait_s("user:sari", "addr:10.0.0.7") == 30   # any account, from that address
    assert lock.wait_s("user:sari", "addr:10.0.0.9") == 0
    clock.t += 31
    assert lock.failed(*keys) == 60                  # doubles
    clock.t += 61
    assert lock.failed(*keys) == 100                 # capped
    lock.succeeded(*keys)
    assert lock.wait_s(*keys) == 0 and lock.failed(*keys) == 0


def test_an_account_can_be_removed(tmp_path):
    accounts = Accounts(tmp_path / "crew.json")
    accounts.add("budi", "lamp post 17")
    assert accounts.remove("budi") and not accounts.remove("budi")
    assert Accounts(tmp_path / "crew.json").check("budi", "lamp post 17") is None


def test_the_lockout_survives_thousands_of_failures():
    """Before: base_s * 2 ** (count - after) overflowed a float after 1,029 failures
    (OverflowError: the counter was dropped, the lock lifted, the login answered 500)."""
    clock = Clock()
    lock = Lockout(after=5, base_s=30.0, max_s=3600.0, clock=clock)   # as the config gives them
    keys = ("user:budi", "addr:10.0.0.7")
    for _ in range(1100):
        wait = lock.failed(*keys)
    assert wait == 3600 and lock.failures["user:budi"][0] == 1100
    assert lock.wait_s("addr:10.0.0.7") == 3600
