"""The `lentera` command: the composition root that wires adapters together.

One module per command group; each command imports what it needs when it runs, so
`lentera --help` stays fast and a gateway without RTU never imports pymodbus.
"""

import click

from agent import __version__
from agent.cli import console, crew, field, plan, ports, provision, service, simulation


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lentera")
def main():
    """Lentera: edge agent for city street lighting and sensors.

    Polls street-light controllers, meters and sensors over Modbus and serial
    lines, applies local rules and forwards telemetry to the city's MQTT broker.
    """


for _command in (service.check_config, service.run, simulation.simulate, simulation.demo,
                 crew.override, crew.lights, plan.plan, field.profiles, field.scan, console.crew,
                 console.audit, console.status, ports.ports, provision.provision,
                 provision.firstboot):
    main.add_command(_command)
# the city's side (agent/fleet/, docs/fleet.md): also installed as `lentera-fleet`
main.add_command(__import__("agent.fleet.cli", fromlist=["main"]).main, "fleet")
