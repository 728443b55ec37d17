"""The admin listener's certificate when the owner has none of their own: self-signed, made by `portal
admin-cert`, which scripts/install runs.

A browser warns about a certificate no authority signed. The owner compares the SHA-256 fingerprint it
shows with the one the install printed, once per browser: if they match, nobody is in between, and the
connection is as private as with a bought certificate.
"""

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=10 * 365)  # renewing means checking a new fingerprint on every phone


def make_self_signed(certificate: Path, key: Path, names: Sequence[str], now: datetime.datetime) -> None:
    """A new key (mode 600; refused if the file exists) and a certificate for `names` (host names and
    addresses the owner may type to reach the box)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))  # a box whose clock is a little behind
        .not_valid_after(now + VALID_FOR)
        .add_extension(
            x509.SubjectAlternativeName([_alternative_name(name) for name in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    key_text = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(key_text)
    certificate.write_bytes(built.public_bytes(serialization.Encoding.PEM))


def _alternative_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def fingerprint(certificate: Path) -> str:
    """SHA-256 of the certificate, as browsers show it: AB:CD:… ."""
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    return loaded.fingerprint(hashes.SHA256()).hex(":").upper()
