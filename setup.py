"""Lentera: edge agent for city street lighting and sensors."""

from setuptools import find_packages, setup

setup(
    name="lentera",
    version="0.1.0",
    description="Edge agent for city street lighting: Modbus/serial polling, local rules, "
    "anomaly detection, MQTT uplink",
    python_requires=">=3.11",
    packages=find_packages(include=["agent", "agent.*", "drivers", "drivers.*",
                                    "edge_rules", "edge_rules.*"]),
    package_data={"drivers": ["profiles/*.yaml"], "agent": ["local/static/*"],
                  "agent.fleet": ["migrations/*.sql", "static/*"]},
    install_requires=[
        # pymodbus renames API between minor versions (slave -> device_id,
        # datastore -> SimDevice): only the tested minor is allowed.
        "pymodbus>=3.16.1,<3.17",
        "pyserial>=3.5,<4",
        # paho's private write queue, wake-up socket and packet reader are used by the
        # uplink (agent/uplink/wakeup.py), the Sparkplug node and the fleet reader: only the
        # tested minor is allowed (each refuses to import when an attribute is missing)
        "paho-mqtt>=2.2,<2.3",
        "numpy>=1.26,<3",
        "PyYAML>=6.0,<7",
        "pydantic>=2.7,<3",
        "click>=8.1,<9",
        # C event loop: a third less agent CPU per poll (docs/benchmarks.md); arm64 wheels exist
        "uvloop>=0.19,<1; platform_system == 'Linux'",
        # the crew's console (agent/local/): asyncio-native HTTP server, pure-Python fallback
        "aiohttp>=3.9,<4",
        # provisioning: client certificates (abi3 wheels for aarch64) and YAML edits that keep
        # comments (pure Python; its optional C part has aarch64 wheels)
        "cryptography>=41,<51",
        "ruamel.yaml>=0.18,<0.19",
        # metrics endpoint (pure Python)
        "prometheus-client>=0.17,<1",
        # Sparkplug B payloads (agent/sparkplug/): the generated module checks the runtime is at
        # least the protoc that made it (7.35.1); aarch64 wheels and a pure-Python fallback
        "protobuf>=7.35.1,<8",
    ],
    extras_require={
        # apsw: a Python SQLite VFS that models power loss (tests/support/powercut.py);
        # wheels for x86_64 and aarch64; playwright drives Debian's chromium for the
        # console's browser tests (never downloads one); pytest-xdist runs the suite in
        # parallel (it mostly waits on brokers, agents and browsers)
        "test": ["pytest>=8,<10", "pytest-xdist>=3.5,<4", "hypothesis>=6.100,<7",
                 "apsw>=3.53,<3.55", "playwright>=1.40,<2",
                 # regenerates agent/sparkplug/sparkplug_b_pb2.py byte for byte (that protoc)
                 "grpcio-tools>=1.85.4,<1.86",
                 # TALQ: the official OAS files run by an outside tool (tests/agent/talq)
                 "schemathesis>=4.30,<5", "jsonschema>=4.20,<5"],
        # bench/fuzz.py only (coverage-guided); wheels for x86_64 only, so never on the
        # gateway: without it bench/fuzz.py falls back to hypothesis
        # the city's side (agent/fleet/, never on a gateway): PostgreSQL driver, wheels for
        # x86_64 and aarch64
        # orjson: the ingest decoder parses each message in a third of the time (docs/
        # benchmarks.md); wheels for x86_64 and aarch64
        "fleet": ["asyncpg>=0.29,<0.33", "orjson>=3.9,<4"],
        "fuzz": ["atheris>=2.3,<2.4; platform_machine == 'x86_64'"],
    },
    entry_points={"console_scripts": ["lentera=agent.cli:main",
                                      "lentera-fleet=agent.fleet.cli:main"]},
)
