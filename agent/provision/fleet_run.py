"""`lentera provision`: fleet CSV + template (+ CA) -> checked bundles and a manifest."""

import json
from pathlib import Path

from agent.provision import bundle, pki
from agent.provision.errors import ProvisionError
from agent.provision.fleet import Row, Template, check_row, read_fleet


def provision(fleet: Path, template: Path, out: Path, ca: "pki.Ca | None",
              days: int = 825) -> list[dict]:
    """Make every gateway's bundle, or none: ProvisionError lists every problem first."""
    rows = read_fleet(fleet)
    tmpl = Template(template)
    problems, bundles, manifest = [], {}, []
    for row in rows:
        problems += row.problems
        try:
            made = _one(row, tmpl, fleet.parent, ca, days)
        except ProvisionError as exc:
            problems += exc.problems
            continue
        if made is not None:
            bundles[row.gateway_id], entry = made
            manifest.append(entry)
    if problems:
        raise ProvisionError(f"{fleet}", [f"{fleet.name} {p}" if p.startswith("row ") else p
                                         for p in problems] + ["nothing was written"])
    index = {"gateways": manifest}
    bundle.write_all(out, bundles, {"manifest.json": (json.dumps(index, indent=2) + "\n").encode()})
    return manifest


def _one(row: Row, tmpl: Template, base: Path, ca, days: int):
    pre = row.values.get("cert_file"), row.values.get("key_file")
    if bool(pre[0]) != bool(pre[1]):
        col = "key_file" if pre[0] else "cert_file"
        raise ProvisionError("fleet", [f"{row.where(col)}: cert_file and key_file go together"])
    if not pre[0] and ca is None:
        raise ProvisionError("fleet", [f"{row.where('cert_file')}: no pre-issued certificate "
                                       "and no --ca-cert/--ca-key to issue one"])
    text = tmpl.render(row, ca_file=ca is not None)
    problems = check_row(row, text, tmpl.path.parent)
    if problems:
        raise ProvisionError("fleet", problems)
    if pre[0]:
        cert_pem, key_pem = (_read_col(row, base, c) for c in ("cert_file", "key_file"))
        ca_pem = ca.cert_pem if ca is not None else None
        bad = pki.check_client(cert_pem, key_pem, ca_pem)
        if bad:
            raise ProvisionError("fleet", [f"{row.where('cert_file')}: {p}" for p in bad])
    else:
        cert_pem, key_pem = ca.issue(row.gateway_id, days)
        ca_pem = ca.cert_pem
    key = bundle.new_key()
    files = {"gateway.yaml": text.encode(), "cmd.key": key, "client.crt": cert_pem,
             "client.key": key_pem}
    if ca_pem is not None:
        files["ca.crt"] = ca_pem
    entry = {"id": row.gateway_id, "site": row.values["site"],
             "key_sha256": bundle.key_fingerprint(key), **pki.cert_facts(cert_pem)}
    return bundle.make_bundle(row.gateway_id, files), entry


def _read_col(row: Row, base: Path, column: str) -> bytes:
    path = base / row.values[column]
    try:
        return path.read_bytes()[:64 * 1024]
    except OSError as exc:
        raise ProvisionError("fleet", [f"{row.where(column)}: cannot read {path} "
                                       f"({exc.strerror})"]) from None
