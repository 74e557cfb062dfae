"""The tunnel's certificate: one RSA key and self-signed certificate that both hosts derive
from the shared password, for stunnel versions without pre-shared keys (4.56 on NethServer 7).

Each end presents this certificate and accepts only a peer that presents exactly it
(stunnel's ``verify = 3``: the chain must verify against ``CAfile``, which holds only this
certificate, and the peer's public key must equal the one installed there). Proving
possession of the private key during the handshake proves knowledge of the password, so
the tunnel stays mutually authenticated by the shared secret alone, as with the PSK.

Everything is deterministic, so both hosts write the same files from the same password with
nothing else exchanged: the seed is an HMAC of the tunnel's pre-shared key (itself the slow
PBKDF2 of the password, ``tunnel_key.py``); a counter-mode HMAC-SHA256 stream drawn from it
feeds the search for two 1024-bit primes (trial division, then Miller-Rabin with bases from
the same stream); the certificate has a fixed serial, name and validity, and its RSA
PKCS#1 v1.5 SHA-256 signature involves no randomness. No program or module outside the
standard library is needed (NethServer 7's Python has no ``cryptography``, and ``openssl
genrsa`` draws random numbers).

Deriving takes a fraction of a second, so like the key it is done only when the password
changes: the compile keeps the result in a root-only cache with an HMAC that ties it to the
password (a cache for another password, or a planted one, is ignored).
"""

import base64
import functools
import hashlib
import hmac
import json
from typing import Iterator, Optional

from .. import paths
from ..frozen import frozen
from ..root import Root

FORMAT = "hotsync tunnel certificate v1"
CACHE_PATH = f"{paths.STATE_FOLDER}/tunnel-certificate.json"
CACHE_MODE = 0o600  # holds the private key
PRIME_BITS = 1024  # two of them: a 2048-bit modulus, what OpenSSL's default security level asks
PUBLIC_EXPONENT = 65537
MILLER_RABIN_ROUNDS = 40
SUBJECT = "HotSync tunnel"
NOT_BEFORE = "000101000000Z"  # 2000-01-01, UTCTime (RFC 5280 wants it up to 2049)
NOT_AFTER = "99991231235959Z"  # GeneralizedTime: "no well-defined expiration date"
SERIAL = 1
_SMALL_PRIMES = tuple(number for number in range(3, 2000, 2)
                      if all(number % divisor for divisor in range(3, int(number ** 0.5) + 1, 2)))


@frozen
class TunnelCertificate:
    """The PEM texts stunnel reads: ``certificate`` (for ``cert`` and ``CAfile``) and ``key``."""

    certificate: str
    key: str


@functools.lru_cache(maxsize=8)
def derive_certificate(psk: str) -> TunnelCertificate:
    """The certificate and key for the tunnel key ``psk`` (64 hexadecimal digits): the same on
    every host, in a fraction of a second. Remembered for this process."""
    stream = _ByteStream(_seed(psk))
    p = _find_prime(stream)
    q = _find_prime(stream)
    while q == p or (p * q).bit_length() != 2 * PRIME_BITS:  # never seen; here so the key is always valid
        q = _find_prime(stream)
    key = _RsaKey.from_primes(max(p, q), min(p, q))
    return TunnelCertificate(certificate=_pem("CERTIFICATE", _certificate_der(key)),
                             key=_pem("RSA PRIVATE KEY", key.private_der()))


def tunnel_certificate(root: Root, psk: str) -> TunnelCertificate:
    """The certificate for ``psk``: the root's cached one when it was made from this same key,
    else derived now. Reads the cache; never writes it."""
    cached = read_cached_certificate(root, psk)
    return cached if cached is not None else derive_certificate(psk)


def cache_content(psk: str, certificate: TunnelCertificate) -> str:
    """The cache file for ``certificate``, derived from ``psk`` (the same text for the same pair)."""
    return json.dumps({
        "format": FORMAT, "fingerprint": _fingerprint(psk, certificate),
        "certificate": certificate.certificate, "key": certificate.key,
    }, indent=2, sort_keys=True) + "\n"


def read_cached_certificate(root: Root, psk: str) -> Optional[TunnelCertificate]:
    """The cached certificate when the cache exists, is intact, has today's format and was made
    from ``psk``; None otherwise (a damaged or stale cache only costs a derivation)."""
    try:
        data = json.loads(root.path(CACHE_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    certificate, key, fingerprint = data.get("certificate"), data.get("key"), data.get("fingerprint")
    if not (isinstance(certificate, str) and isinstance(key, str) and isinstance(fingerprint, str)):
        return None
    found = TunnelCertificate(certificate=certificate, key=key)
    return found if hmac.compare_digest(fingerprint, _fingerprint(psk, found)) else None


def _fingerprint(psk: str, certificate: TunnelCertificate) -> str:
    text = f"{certificate.certificate}\0{certificate.key}".encode("ascii", "replace")
    return hmac.new(_seed(psk), text, hashlib.sha256).hexdigest()


def _seed(psk: str) -> bytes:
    # A key of its own, so nothing of the certificate's making ever reveals the PSK.
    return hmac.new(bytes.fromhex(psk), FORMAT.encode("ascii"), hashlib.sha256).digest()


class _ByteStream:
    """HMAC-SHA256 of a counter under ``seed``: as many deterministic bytes as asked for."""

    def __init__(self, seed: bytes):
        self._blocks = self._generate(seed)
        self._buffer = b""

    @staticmethod
    def _generate(seed: bytes) -> Iterator[bytes]:
        counter = 0
        while True:
            yield hmac.new(seed, counter.to_bytes(8, "big"), hashlib.sha256).digest()
            counter += 1

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += next(self._blocks)
        taken, self._buffer = self._buffer[:size], self._buffer[size:]
        return taken

    def number_below(self, limit: int) -> int:
        """A number from 2 to ``limit - 2`` (a Miller-Rabin base)."""
        return 2 + int.from_bytes(self.read(limit.bit_length() // 8 + 8), "big") % (limit - 3)


def _find_prime(stream: _ByteStream) -> int:
    """The first prime at or after a drawn odd number with its two top bits set (so that the
    product of two has exactly twice the bits) that suits the public exponent."""
    while True:
        candidate = int.from_bytes(stream.read(PRIME_BITS // 8), "big") | (3 << (PRIME_BITS - 2)) | 1
        while candidate.bit_length() == PRIME_BITS:
            if (candidate - 1) % PUBLIC_EXPONENT and _is_probable_prime(candidate, stream):
                return candidate
            candidate += 2


def _is_probable_prime(candidate: int, stream: _ByteStream) -> bool:
    if any(candidate % prime == 0 for prime in _SMALL_PRIMES):
        return False
    odd, twos = candidate - 1, 0
    while odd % 2 == 0:
        odd, twos = odd // 2, twos + 1
    for _round in range(MILLER_RABIN_ROUNDS):
        value = pow(stream.number_below(candidate), odd, candidate)
        if value in (1, candidate - 1):
            continue
        for _square in range(twos - 1):
            value = pow(value, 2, candidate)
            if value == candidate - 1:
                break
        else:
            return False
    return True


def _inverse(value: int, modulus: int) -> int:
    """``value``'s inverse modulo ``modulus`` (``pow(value, -1, modulus)`` needs Python 3.8)."""
    old_remainder, remainder, old_coefficient, coefficient = value % modulus, modulus, 1, 0
    while remainder:
        quotient = old_remainder // remainder
        old_remainder, remainder = remainder, old_remainder - quotient * remainder
        old_coefficient, coefficient = coefficient, old_coefficient - quotient * coefficient
    if old_remainder != 1:
        raise ValueError("not invertible")
    return old_coefficient % modulus


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


@frozen
class _RsaKey:
    """An RSA private key with its CRT values, as PKCS#1 stores it."""

    modulus: int
    exponent: int
    private_exponent: int
    prime1: int
    prime2: int

    @classmethod
    def from_primes(cls, p: int, q: int) -> "_RsaKey":
        carmichael = (p - 1) * (q - 1) // _gcd(p - 1, q - 1)
        return cls(modulus=p * q, exponent=PUBLIC_EXPONENT,
                   private_exponent=_inverse(PUBLIC_EXPONENT, carmichael), prime1=p, prime2=q)

    def public_der(self) -> bytes:
        return _sequence(_integer(self.modulus), _integer(self.exponent))

    def private_der(self) -> bytes:
        d, p, q = self.private_exponent, self.prime1, self.prime2
        return _sequence(*(_integer(number) for number in (
            0, self.modulus, self.exponent, d, p, q, d % (p - 1), d % (q - 1), _inverse(q, p))))

    def sign_sha256(self, message: bytes) -> bytes:
        """The RSASSA-PKCS1-v1_5 signature of ``message`` with SHA-256 (deterministic)."""
        digest_info = _sequence(_sequence(_oid("2.16.840.1.101.3.4.2.1"), _NULL),
                                _der(0x04, hashlib.sha256(message).digest()))
        size = (self.modulus.bit_length() + 7) // 8
        encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
        signature = pow(int.from_bytes(encoded, "big"), self.private_exponent, self.modulus)
        return signature.to_bytes(size, "big")


def _certificate_der(key: _RsaKey) -> bytes:
    """A version 3 self-signed certificate: fixed serial, name and validity; a CA (it is its
    own trust anchor in ``CAfile``)."""
    signature_algorithm = _sequence(_oid("1.2.840.113549.1.1.11"), _NULL)  # sha256WithRSAEncryption
    name = _sequence(_der(0x31, _sequence(_oid("2.5.4.3"), _der(0x0C, SUBJECT.encode("utf-8")))))
    public_key_info = _sequence(_sequence(_oid("1.2.840.113549.1.1.1"), _NULL),  # rsaEncryption
                                _der(0x03, b"\x00" + key.public_der()))
    basic_constraints = _sequence(_oid("2.5.29.19"), _TRUE, _der(0x04, _sequence(_TRUE)))
    to_be_signed = _sequence(
        _der(0xA0, _integer(2)),
        _integer(SERIAL),
        signature_algorithm,
        name,
        _sequence(_der(0x17, NOT_BEFORE.encode("ascii")), _der(0x18, NOT_AFTER.encode("ascii"))),
        name,
        public_key_info,
        _der(0xA3, _sequence(basic_constraints)),
    )
    return _sequence(to_be_signed, signature_algorithm, _der(0x03, b"\x00" + key.sign_sha256(to_be_signed)))


# --- DER, only what a certificate and a key need
def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def _sequence(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _integer(value: int) -> bytes:
    """A non-negative INTEGER, with the leading zero byte that keeps it positive."""
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    encoded = bytearray([40 * first + second])
    for number in rest:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        encoded.extend(reversed(chunk))
    return _der(0x06, bytes(encoded))


_NULL = b"\x05\x00"
_TRUE = b"\x01\x01\xff"


def _pem(label: str, der: bytes) -> str:
    text = base64.b64encode(der).decode("ascii")
    lines = [text[start:start + 64] for start in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"

