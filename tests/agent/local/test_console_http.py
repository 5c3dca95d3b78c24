"""Log-in under parallel guesses and floods, against an in-process console on loopback."""

import asyncio

import aiohttp

from agent.local.console import Console
from tests.support.console_app import PASSWORD, console_site, post_login, serve_console


async def against(console, requests):
    """requests(http, url) against the console served on loopback; the server is closed after."""
    server = await serve_console(console)
    url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            return await requests(http, url)
    finally:
        await server.close()


def test_parallel_guesses_from_one_address_get_no_more_than_the_lock_out_allows(tmp_path):
    """Before: the lock-out was checked before the hash was queued and failures were counted
    after it, so 20 parallel guesses were all hashed and the right one (the last) got in."""
    site = console_site(tmp_path, lockout_after=3)
    console = Console(site)
    console.accounts.add("budi", PASSWORD)

    async def guess(http, url):
        guesses = [f"wrong guess {i}" for i in range(19)] + [PASSWORD]
        return await asyncio.gather(*(post_login(http, url, "budi", g) for g in guesses))
    answers = asyncio.run(against(console, guess))
    statuses = [a[0] for a in answers]
    assert 302 not in statuses, "a guess got past the lock-out"
    hashed = [s for s in statuses if s == 401]
    assert len(hashed) <= 3, statuses                 # only `lockout_after` guesses checked
    assert all(s in (401, 429, 503) for s in statuses), statuses


def test_a_login_flood_does_not_queue_behind_itself(tmp_path):
    """Before: every guess queued a 32 MiB scrypt on the one hashing thread, so a flood from
    many addresses made a crew member wait behind all of them."""
    site = console_site(tmp_path, lockout_after=100)
    console = Console(site)
    console.accounts.add("budi", PASSWORD)

    async def flood(http, url):
        answers = await asyncio.gather(*(post_login(http, url, f"x{i}", "wrong guess")
                                         for i in range(40)))
        return answers, console.gate.hashing_peak
    answers, peak = asyncio.run(against(console, flood))
    statuses = [a[0] for a in answers]
    assert 503 in statuses                            # refused at once, not queued
    assert peak <= console.gate.max_hashing
