"""Request identity: the Restate server signs every request it sends to the service, and the
service refuses (401) anything not signed by that server.

The local stack makes a fresh ed25519 key pair per data dir: the private key (PEM) goes to the
server's `request-identity-private-key-pem-file`, the public key, in Restate's
`publickeyv1_<base58 of the raw 32 bytes>` form, to the service's `identity_keys`.
"""

from pathlib import Path

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PUBLIC_KEY_PREFIX = "publickeyv1_"


def public_key_string(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base58.b58encode(raw).decode()


def ensure_identity(folder: Path) -> tuple[Path, str]:
    """(private key PEM path, public key string), creating the pair on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    pem = folder / "request-identity.pem"
    if pem.exists():
        loaded = serialization.load_pem_private_key(pem.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{pem} is not an ed25519 private key")
        private = loaded
    else:
        private = Ed25519PrivateKey.generate()
        pem.touch(mode=0o600)
        pem.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return pem, public_key_string(private)
