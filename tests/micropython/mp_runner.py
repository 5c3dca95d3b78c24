"""A tiny test runner for MicroPython: runs every `test_*` function of every `test_*.py` module."""

import os
import sys


class TestsFailed(Exception):
    """Raised at the end of a run when at least one test failed, so the harness exits non-zero."""


def _modules(test_dir):
    names = []
    for name in os.listdir(test_dir):
        if name.startswith("test_") and name.endswith(".py"):
            names.append(name[:-3])
    names.sort()
    return names


def _print_exception(exc):
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)
    else:
        import traceback

        traceback.print_exception(exc)


def _is_coroutine(obj):
    # MicroPython's coroutines are generators; CPython's are coroutine objects
    return type(obj).__name__ in ("generator", "coroutine")


async def _run_module(mod_name, counts, failures):
    try:
        module = __import__(mod_name)
    except Exception as exc:
        # an import failure (e.g. a CPython-only module) fails the whole module, loudly
        print("ERROR importing %s:" % mod_name)
        _print_exception(exc)
        counts[1] += 1
        failures.append(mod_name)
        return
    names = [n for n in dir(module) if n.startswith("test_")]
    names.sort()
    for name in names:
        func = getattr(module, name)
        if not callable(func):
            continue
        try:
            result = func()
            if _is_coroutine(result):
                await result
            counts[0] += 1
        except Exception as exc:
            print("FAIL %s.%s:" % (mod_name, name))
            _print_exception(exc)
            counts[1] += 1
            failures.append(mod_name + "." + name)


async def main(test_dirs):
    """Run the tests found in test_dirs (awaiting `async def` ones); print 'N passed, N failed'.

    Raises TestsFailed at the end when a test failed, so the harness exits non-zero.
    """
    counts = [0, 0]
    failures = []
    print("MicroPython", sys.version, getattr(sys, "implementation", ""))
    for test_dir in test_dirs:
        for mod_name in _modules(test_dir):
            await _run_module(mod_name, counts, failures)
    print("%d passed, %d failed" % (counts[0], counts[1]))
    if failures:
        raise TestsFailed("failed: " + ", ".join(failures))
