"""Throwaway X.509 for the TALQ tests: a CA, the gateway's server certificate, the CMS's
client certificate from that CA, and a rogue client certificate from another CA."""

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, key, cert) -> None:
    (folder / f"{stem}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        # a gateway's certificate serves TALQ and is its client certificate towards the CMS
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server \
            else [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_talq_pki(folder: Path) -> dict:
    """{name: path} of ca.crt, server.crt/key, cms.crt/key, cms-server.crt/key (the CMS peer's
    HTTPS server; all signed by ca), rogue.crt/key
    (signed by other-ca, a CA the gateway does not trust)."""
    folder.mkdir(parents=True, exist_ok=True)
    cas = {}
    for stem in ("ca", "other-ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(f"lentera test {stem}", key, _name(f"lentera test {stem}"), key, ca=True)
        _write(folder, stem, key, cert)
        cas[stem] = (key, cert)
    for stem, issuer, server in (("server", "ca", True), ("cms", "ca", False),
                                 ("cms-server", "ca", True),
                                 ("rogue", "other-ca", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        ca_key, ca_cert = cas[issuer]
        _write(folder, stem, key, _cert(f"lentera test {stem}", key, ca_cert.subject, ca_key,
                                        ca=False, server=server))
    return {p.name: str(p) for p in folder.iterdir()}
