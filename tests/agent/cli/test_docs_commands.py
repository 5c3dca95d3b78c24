"""Every `lentera ...` command line in the README, the installer guide and the console guide
names a command and flags that `lentera <command> --help` lists (issue 22: the guides had
drifted from the code)."""

import re
from functools import lru_cache
from pathlib import Path

from click.testing import CliRunner

from agent.cli import main

REPO = Path(__file__).resolve().parents[3]
DOCS = [REPO / "README.md", REPO / "docs" / "console.md",
        *sorted((REPO / "docs").glob("installer*.md"))]
# `lentera ` where a command starts (not lentera-fleet, lentera.service, `-g lentera -m 0640`)
START = re.compile(r"(?:^\s*|(?<=\$ )|(?<=sudo )|(?<=[;|&(] ))lentera (?=\S)", re.M)
FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


@lru_cache(maxsize=None)
def help_of(words: tuple) -> tuple[set, set]:
    """(subcommands, flags) that `lentera WORDS --help` lists."""
    res = CliRunner().invoke(main, [*words, "--help"])
    assert res.exit_code == 0, f"lentera {' '.join(words)} --help failed:\n{res.output}"
    commands, flags, section = set(), set(), None
    for line in res.output.splitlines():
        if re.match(r"^\w[\w ]*:$", line):
            section = line[:-1]
        elif section == "Commands" and re.match(r"^  \S", line):
            commands.add(line.split()[0])
        elif section == "Options" and re.match(r"^  -", line):
            flags.update(FLAG.findall(line.split("  ")[1]))
    return commands, flags


def snippets(text: str) -> list[str]:
    """Code: fenced and indented blocks (lines joined at a trailing backslash), inline spans."""
    out, fenced = [], False
    lines = text.splitlines()
    prose = []
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced or line.startswith("    "):
            out.append(line)
        else:
            prose.append(line)
    out = re.sub(r"\\\n\s*", " ", "\n".join(out)).splitlines()
    return out + re.findall(r"`([^`\n]+)`", "\n".join(prose))


def command_lines(text: str) -> list[str]:
    """What follows each `lentera ` in the code, up to a shell separator or a comment."""
    found = []
    for snippet in snippets(text):
        for match in START.finditer(snippet):
            rest = re.split(r"\s(?:#|\||&&|;|—|>)\s?|`", snippet[match.end():])[0]
            found.append(rest.strip())
    return found


def problems(text: str) -> list[str]:
    """'lentera plan --dat: ...' for every command or flag --help does not list."""
    out = []
    for line in command_lines(text):
        words, tokens = [], line.split()
        while tokens and re.fullmatch(r"[a-z][a-z-]*", tokens[0]):
            commands, _ = help_of(tuple(words))
            if not commands:
                break                       # a command: the rest are its arguments
            if tokens[0] not in commands:
                out.append(f"lentera {line}: no command {' '.join(words + [tokens[0]])!r}")
                tokens = []
                break
            words.append(tokens.pop(0))
        _, flags = help_of(tuple(words))
        for token in tokens:
            flag = FLAG.match(token)
            if flag and flag.group(1) not in flags:
                out.append(f"lentera {line}: {flag.group(1)} is not an option of "
                           f"`lentera {' '.join(words)}` (its --help lists {sorted(flags)})")
    return out


def test_every_command_and_flag_in_the_guides_is_in_lentera_help():
    found = {doc.name: problems(doc.read_text(encoding="utf-8")) for doc in DOCS}
    assert sum(len(command_lines(doc.read_text())) for doc in DOCS) > 40   # the guides' commands
    assert not any(found.values()), "\n".join(f"{doc}: {p}" for doc, ps in found.items()
                                              for p in ps)


def test_a_wrong_command_or_flag_is_caught():
    text = ("Run `lentera plan -c gateway.yaml --dates 2026-08-17`, then\n\n"
            "    $ sudo lentera crew ad budi -c /etc/lentera/gateway.yaml\n"
            "    lentera provision --fleet f.csv \\\n      --ca-certificate ca.crt\n")
    found = "\n".join(problems(text))
    assert len(found.splitlines()) == 3, found
    assert "--dates is not an option of `lentera plan`" in found
    assert "no command 'crew ad'" in found
    assert "--ca-certificate is not an option of `lentera provision`" in found
    assert not problems("    sudo install -o root -g lentera -m 0640 x.yaml /etc/lentera/\n"
                        "`journalctl -u lentera -f` and `lentera-fleet ingest --nope`")


def test_every_metric_the_guides_name_is_one_the_agent_exposes():
    source = (REPO / "agent" / "local" / "metrics.py").read_text()
    exposed = set()
    for kind, name in re.findall(r'add\("(counter|gauge)", "([a-z_]+)"', source):
        exposed.add(f"lentera_{name}_total" if kind == "counter" else f"lentera_{name}")
    named = {m for doc in DOCS + [REPO / "docs" / "benchmarks.md"]
             for m in re.findall(r"\blentera_[a-z_]+[a-z]", doc.read_text())}
    named.discard("lentera_session")                # the console's cookie, not a metric
    assert named and named <= exposed, sorted(named - exposed)


def test_the_readme_and_setup_say_where_the_lentera_command_is():
    readme = (REPO / "README.md").read_text()
    setup = (REPO / "deploy" / "dev" / "setup.sh").read_text()
    assert "`.venv/bin/lentera`" in readme and "/usr/local/bin/lentera" in readme
    assert ".venv/bin/lentera" in setup.split('"==> ready')[-1]
    assert (Path(__import__("sys").executable).parent / "lentera").exists()   # where it says
