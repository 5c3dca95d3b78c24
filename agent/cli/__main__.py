"""python -m agent.cli: the lentera command."""

from agent.cli import main

main()
