"""Payload encryption: every payload the engine writes to Temporal (inputs, results, signals,
the whole history) is encrypted with AES-GCM when PAYLOAD_ENCRYPTION_KEYS is set, so the
Temporal server, its database and anyone reading the Web UI without the key see ciphertext.

PAYLOAD_ENCRYPTION_KEYS is `id:key,id:key,...` with 32-byte keys in base64 (`python cli.py
codec-key` makes one). The first key encrypts; every key decrypts, so a key is rotated by
putting a new one first and keeping the old ones while histories written with them matter.
`python cli.py codec-server` serves Temporal's remote codec protocol for the Web UI (and the
`temporal` CLI), so a person holding the key sees decoded payloads.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """PAYLOAD_ENCRYPTION_KEYS is malformed, or a payload's key is not among them."""


@dataclass(frozen=True)
class EncryptionKeys:
    """Keys by id; the first one encrypts."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, setting: str) -> EncryptionKeys:
        """`id:base64key,...`; a CodecKeyError says what is wrong (never a key)."""
        keys: dict[str, bytes] = {}
        for entry in (part.strip() for part in setting.split(",") if part.strip()):
            key_id, separator, encoded = entry.partition(":")
            if not separator or not key_id:
                raise CodecKeyError("PAYLOAD_ENCRYPTION_KEYS entries are id:base64key")
            try:
                key = base64.b64decode(encoded, validate=True)
            except ValueError:
                message = f"key {key_id!r} of PAYLOAD_ENCRYPTION_KEYS is not base64"
                raise CodecKeyError(message) from None
            if len(key) != 32:
                raise CodecKeyError(f"key {key_id!r} of PAYLOAD_ENCRYPTION_KEYS is not 32 bytes")
            keys[key_id] = key
        if not keys:
            raise CodecKeyError("PAYLOAD_ENCRYPTION_KEYS holds no key")
        return cls(keys, next(iter(keys)))


def new_key() -> str:
    """A fresh 32-byte key, in base64."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def encrypt(payloads: Sequence[Payload], keys: EncryptionKeys) -> list[Payload]:
    """Each payload, serialised and encrypted under the current key."""
    cipher = AESGCM(keys.keys[keys.current])
    encrypted = []
    for payload in payloads:
        nonce = os.urandom(NONCE_BYTES)
        data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), None)
        metadata = {"encoding": ENCODING, KEY_ID: keys.current.encode()}
        encrypted.append(Payload(metadata=metadata, data=data))
    return encrypted


def decrypt(payloads: Sequence[Payload], keys: EncryptionKeys) -> list[Payload]:
    """Each encrypted payload decrypted (others, written before encryption was on, as is)."""
    decrypted = []
    for payload in payloads:
        if payload.metadata.get("encoding") != ENCODING:
            decrypted.append(payload)
            continue
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        key = keys.keys.get(key_id)
        if key is None:
            raise CodecKeyError(
                f"a payload is encrypted with key {key_id!r}, which PAYLOAD_ENCRYPTION_KEYS "
                "does not hold"
            )
        nonce, ciphertext = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            decrypted.append(Payload.FromString(AESGCM(key).decrypt(nonce, ciphertext, None)))
        except InvalidTag:
            raise CodecKeyError(f"a payload does not decrypt with key {key_id!r}") from None
    return decrypted


class EncryptionCodec(PayloadCodec):
    """Temporal's payload codec over `encrypt` and `decrypt`."""

    def __init__(self, keys: EncryptionKeys) -> None:
        self._keys = keys

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return encrypt(payloads, self._keys)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return decrypt(payloads, self._keys)
