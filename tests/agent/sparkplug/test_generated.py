"""The checked-in Sparkplug B module is exactly what protoc makes from Tahu's proto."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HERE = REPO / "agent" / "sparkplug"
# shared/ sits beside the checkout (CI) or beside the worktrees' folder
STANDARD = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared")
                 if p.exists()), REPO.parent / "shared") / "standards/sparkplug-3.0/sparkplug_b.proto"
HEADER_LINES = 5      # the comment on top of sparkplug_b_pb2.py saying how it was made


def test_regenerating_gives_the_committed_module(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools is in the test extra")
    (tmp_path / "sparkplug_b.proto").write_bytes((HERE / "sparkplug_b.proto").read_bytes())
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.",
                    "sparkplug_b.proto"], cwd=tmp_path, check=True)
    committed = (HERE / "sparkplug_b_pb2.py").read_text(encoding="utf-8").splitlines()
    assert committed[0].startswith("# Sparkplug B payload classes, generated")
    assert committed[HEADER_LINES:] == \
        (tmp_path / "sparkplug_b_pb2.py").read_text(encoding="utf-8").splitlines()


def test_the_proto_is_the_standards_copy():
    if not STANDARD.exists():
        pytest.skip(f"{STANDARD} not beside this checkout")
    assert (HERE / "sparkplug_b.proto").read_bytes() == STANDARD.read_bytes()


def test_the_module_round_trips_a_payload():
    from agent.sparkplug import sparkplug_b_pb2 as pb
    payload = pb.Payload(timestamp=1, seq=255)
    metric = payload.metrics.add(name="bdSeq", datatype=pb.Int64, long_value=7)
    assert metric.alias == 0 and not metric.HasField("alias")
    back = pb.Payload.FromString(payload.SerializeToString())
    assert back.seq == 255 and back.metrics[0].long_value == 7
