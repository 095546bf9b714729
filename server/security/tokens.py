"""Access tokens (RS384 JWTs signed by the server) and SMART client assertions (private_key_jwt).

All signing and verification is PyJWT over `cryptography`; nothing here is hand-rolled crypto.
Verified access tokens are cached until they expire, so a request pays for one signature check
per token, not per request.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server.errors import InvalidToken, Unauthorized
from server.security.principal import Principal
from server.security.scopes import Scopes

ACCESS_TOKEN_ALGORITHM = "RS384"
CLIENT_ASSERTION_ALGORITHMS = ("RS384", "ES384")
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ISSUER = "cradle"
AUDIENCE = "cradle-fhir"
MAX_ASSERTION_LIFETIME = 300  # SMART Backend Services: exp at most five minutes ahead
LEEWAY = 30  # seconds of clock skew tolerated
CACHE_SIZE = 4096
Jwk = dict[str, Any]


def generate_private_jwk(algorithm: str = "RS384") -> Jwk:
    """Return a new private key as a JWK (RSA 2048 for RS384, P-384 for ES384) with a `kid`."""
    if algorithm == "ES384":
        key: Any = ec.generate_private_key(ec.SECP384R1())
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "alg": algorithm, "kid": uuid.uuid4().hex, "use": "sig"}


PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def public_jwk(jwk: Jwk) -> Jwk:
    """Return the public part of a JWK (never the private members)."""
    return {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS and k != "key_ops"}


def client_assertion(client_id: str, private_jwk: Jwk, token_url: str,
                     lifetime: int = 240) -> str:
    """Return a signed client assertion, as a SMART backend client sends to the token URL."""
    key = jwt.PyJWK.from_dict(private_jwk)
    moment = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "jti": uuid.uuid4().hex,
              "iat": moment, "exp": moment + lifetime}
    return jwt.encode(claims, key.key, algorithm=key.algorithm_name,
                      headers={"kid": private_jwk.get("kid"), "typ": "JWT"})


@dataclass(frozen=True, slots=True)
class Assertion:
    """A verified client assertion: whose, and the id that must not be replayed."""

    client_id: str
    jti: str
    expires: int


def unverified_client_id(assertion: str) -> str:
    """Return the `iss` a client assertion claims (to look the client up); raises `Unauthorized`."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"The client assertion is not a JWT: {exc}") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer or claims.get("sub") != issuer:
        raise Unauthorized("The client assertion must have iss = sub = the client id")
    return issuer


def verify_client_assertion(assertion: str, client_id: str, jwks: list[Jwk],
                            token_urls: list[str]) -> Assertion:
    """Verify a private_key_jwt assertion against the client's registered public keys.

    Raises `Unauthorized` for a bad signature, algorithm, audience, lifetime or claim.
    """
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"The client assertion is not a JWT: {exc}") from exc
    if header.get("alg") not in CLIENT_ASSERTION_ALGORITHMS:
        raise Unauthorized(f"Client assertions must be signed with "
                           f"{' or '.join(CLIENT_ASSERTION_ALGORITHMS)}")
    family = "RSA" if header["alg"].startswith("RS") else "EC"
    candidates = [k for k in jwks if k.get("kty") == family
                  and header.get("kid") in (None, k.get("kid"))]
    for jwk in candidates:
        try:
            key = jwt.PyJWK.from_dict({**jwk, "alg": header["alg"]})
        except jwt.PyJWKError:
            continue  # e.g. a P-256 key cannot check an ES384 signature
        try:
            claims = jwt.decode(
                assertion, key.key, algorithms=[header["alg"]], audience=token_urls,
                issuer=client_id, leeway=LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]})
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The client assertion is not acceptable: {exc}") from exc
        if claims["sub"] != client_id:
            raise Unauthorized("The client assertion's sub must be the client id")
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME + LEEWAY:
            raise Unauthorized("The client assertion may live at most five minutes")
        return Assertion(client_id, str(claims["jti"]), int(claims["exp"]))
    raise Unauthorized("The client assertion is not signed by a key registered for the client")


class TokenService:
    """Issues and verifies the server's access tokens."""

    def __init__(self, private_jwk: Jwk, ttl: int = 300) -> None:
        self._signing = jwt.PyJWK.from_dict(private_jwk)
        self._kid = private_jwk.get("kid")
        self._verifying = jwt.PyJWK.from_dict(public_jwk(private_jwk)).key
        self.ttl = ttl
        self._verified: OrderedDict[str, tuple[Principal, int]] = OrderedDict()

    def issue(self, client_id: str, agency: str | None, scopes: Scopes, operator: bool = False,
              purpose: str = "CAREMGT", ttl: int | None = None) -> tuple[str, int]:
        """Return a signed access token and its lifetime in seconds."""
        lifetime = ttl or self.ttl
        moment = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": client_id, "client_id": client_id,
            "scope": str(scopes), "purpose": purpose, "iat": moment, "exp": moment + lifetime,
            "jti": uuid.uuid4().hex}
        if agency:
            claims["agency"] = agency
        if operator:
            claims["operator"] = True
        token = jwt.encode(claims, self._signing.key, algorithm=ACCESS_TOKEN_ALGORITHM,
                           headers={"kid": self._kid})
        return token, lifetime

    def verify(self, token: str) -> Principal:
        """Return the principal an access token stands for; raises `Unauthorized`."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if expires > time.time():
                return principal
            del self._verified[token]
        try:
            claims = jwt.decode(token, self._verifying, algorithms=[ACCESS_TOKEN_ALGORITHM],
                                audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "sub", "scope"]})
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("The access token has expired; request a new one") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"The access token is not valid: {exc}") from exc
        principal = Principal(
            client_id=str(claims["sub"]), agency=claims.get("agency"),
            scopes=Scopes.parse(str(claims["scope"])), operator=bool(claims.get("operator")),
            purpose=str(claims.get("purpose") or "CAREMGT"))
        self._verified[token] = (principal, int(claims["exp"]))
        if len(self._verified) > CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal
