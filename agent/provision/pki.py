"""Gateway client certificates signed by the city's CA (cryptography), and their checks."""

import datetime
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.provision.errors import ProvisionError


class Ca:
    """The signing CA: its certificate and private key, checked to belong together."""

    def __init__(self, cert_file: str, key_file: str, password: bytes | None = None):
        self.cert_pem = _read(cert_file)
        try:
            self.cert = x509.load_pem_x509_certificate(self.cert_pem)
        except ValueError as exc:
            raise ProvisionError(cert_file, [f"not a PEM certificate ({exc})"]) from None
        try:
            self.key = serialization.load_pem_private_key(_read(key_file), password)
        except (ValueError, TypeError) as exc:
            raise ProvisionError(key_file, [f"cannot load the CA key ({exc}); an encrypted "
                                            "key needs --ca-password-file"]) from None
        if not same_key(self.cert.public_key(), self.key.public_key()):
            raise ProvisionError(key_file, [f"this key does not belong to {cert_file}"])
        try:
            is_ca = self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise ProvisionError(cert_file, ["not a CA certificate (basicConstraints CA:TRUE "
                                             "missing): give the CA that signs gateway certs"])

    def issue(self, gateway_id: str, days: int) -> tuple[bytes, bytes]:
        """A fresh EC P-256 key and a client certificate (CN = gateway id); PEM bytes."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gateway_id)])
        cert = (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, True, False, False,
                                             False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(gateway_id)]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _read(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProvisionError(str(path), [f"cannot read: {exc.strerror}"]) from None
    if len(data) > 64 * 1024:
        raise ProvisionError(str(path), ["over 64 KiB: not a certificate or key"])
    return data


def same_key(a, b) -> bool:
    """Two public keys are the same key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def check_client(cert_pem: bytes, key_pem: bytes, ca_pem: bytes | None) -> list[str]:
    """Problems with a gateway's certificate and key (empty: fine). Never raises."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        return [f"certificate: not PEM ({exc})"]
    try:
        key = serialization.load_pem_private_key(key_pem, None)
    except (ValueError, TypeError) as exc:
        return [f"key: cannot load ({exc}); it must be PEM and not encrypted"]
    problems = []
    if not same_key(cert.public_key(), key.public_key()):
        problems.append("the key does not belong to the certificate")
    if cert.not_valid_after_utc < datetime.datetime.now(datetime.timezone.utc):
        problems.append(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if ca_pem is not None:
        try:
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
        except (ValueError, TypeError, InvalidSignature) as exc:
            problems.append(f"the certificate is not signed by the bundled CA ({exc or 'bad signature'})")
    return problems


def cert_facts(cert_pem: bytes) -> dict:
    """Fingerprint, serial, subject and expiry of a PEM certificate (for the manifest)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"cert_sha256": hashlib.sha256(der).hexdigest(), "cert_serial": format(cert.serial_number, "x"),
            "cert_subject": cert.subject.rfc4514_string(),
            "cert_not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}
