"""The SecurityCredential of Daraja's initiator APIs (Transaction Status): the initiator's password,
RSA-encrypted with the public key of Safaricom's certificate for the environment, with PKCS#1 v1.5
padding (not OAEP), in base64 (reference/daraja.md §8.2). The output differs on every call (random
padding); only Safaricom's private key reads it. Errors here never carry the password.
"""

import base64

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """The text is not an X.509 certificate with an RSA key, in PEM; the message says what to do."""


def public_key(certificate: str) -> rsa.RSAPublicKey:
    if PEM_BEGIN not in certificate:
        raise CertificateError(f"Paste the whole certificate, from {PEM_BEGIN} to -----END CERTIFICATE-----.")
    try:
        key = x509.load_pem_x509_certificate(certificate.strip().encode()).public_key()
    except ValueError:
        raise CertificateError(
            "That is not a readable certificate: paste the .cer file's text whole."
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateError("That certificate has no RSA key: it is not Safaricom's M-Pesa certificate.")
    return key


def security_credential(password: str, certificate: str) -> str:
    encrypted = public_key(certificate).encrypt(password.encode(), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode()
