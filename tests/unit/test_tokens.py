"""Access tokens (`TokenService`) and client assertions (`verify_client_assertion`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from server.errors import Unauthorized
from server.security import tokens
from server.security.principal import Principal
from server.security.scopes import Scopes
from server.security.tokens import (
    AUDIENCE,
    ISSUER,
    TokenService,
    client_assertion,
    generate_private_jwk,
    public_jwk,
    unverified_client_id,
    verify_client_assertion,
)

KEY = generate_private_jwk()
SCOPES = Scopes.parse("system/Flag.rs system/Patient.cruds cradle/break-glass")
TOKEN_URL = "https://cradle.example/auth/token"


@pytest.fixture()
def service() -> TokenService:
    return TokenService(KEY, ttl=120)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def signed(claims: dict[str, Any], key: dict[str, Any] = KEY, algorithm: str = "RS384") -> str:
    return jwt.encode(claims, jwt.PyJWK.from_dict(key).key, algorithm=algorithm,
                      headers={"kid": key.get("kid")})


def good_claims(**changes: Any) -> dict[str, Any]:
    moment = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "c1", "scope": "system/*.rs",
              "iat": moment, "exp": moment + 60}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# --- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "kty"), [("RS384", "RSA"), ("ES384", "EC")])
def test_generated_keys_and_their_public_part(algorithm: str, kty: str) -> None:
    private = generate_private_jwk(algorithm)
    assert private["kty"] == kty and private["alg"] == algorithm and private["kid"]
    assert "d" in private
    public = public_jwk(private)
    assert not {"d", "p", "q", "dp", "dq", "qi", "key_ops"} & set(public)
    assert public["kid"] == private["kid"] and public["alg"] == algorithm
    if kty == "EC":
        assert public["crv"] == "P-384"


# --- access tokens ---------------------------------------------------------------------------


def test_issue_and_verify_round_trip(service: TokenService) -> None:
    token, lifetime = service.issue("c1", "Organization/la", SCOPES)
    assert lifetime == 120
    assert jwt.get_unverified_header(token) == {"alg": "RS384", "kid": KEY["kid"],
                                                "typ": "JWT"}
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] == 120
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, AUDIENCE, "c1")
    assert "operator" not in claims
    assert service.verify(token) == Principal("c1", "Organization/la", SCOPES)


def test_operator_token_round_trip(service: TokenService) -> None:
    token, lifetime = service.issue("cli:operator", None, Scopes.everything(), operator=True,
                                    purpose="HOPERAT", ttl=30)
    assert lifetime == 30
    principal = service.verify(token)
    assert principal == Principal("cli:operator", None, Scopes.everything(), operator=True,
                                  purpose="HOPERAT")
    assert "agency" not in claims_of(token)


def test_tokens_are_unique(service: TokenService) -> None:
    first, _ = service.issue("c1", None, SCOPES)
    second, _ = service.issue("c1", None, SCOPES)
    assert first != second
    assert claims_of(first)["jti"] != claims_of(second)["jti"]


def test_another_service_with_the_same_key_verifies(service: TokenService) -> None:
    token, _ = service.issue("c1", "Organization/la", SCOPES)
    assert TokenService(KEY).verify(token).client_id == "c1"  # every worker, same key file


def test_expired_token(service: TokenService) -> None:
    token, _ = service.issue("c1", None, SCOPES, ttl=-5)
    with pytest.raises(Unauthorized, match="expired"):
        service.verify(token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


OTHER_KEY = generate_private_jwk()
FORGERIES = {
    "wrong audience": lambda: signed(good_claims(aud="another-api")),
    "no audience": lambda: signed(good_claims(aud=None)),
    "wrong issuer": lambda: signed(good_claims(iss="someone")),
    "no issuer": lambda: signed(good_claims(iss=None)),
    "no exp": lambda: signed(good_claims(exp=None)),
    "no scope": lambda: signed(good_claims(scope=None)),
    "no sub": lambda: signed(good_claims(sub=None)),
    "another key": lambda: signed(good_claims(), OTHER_KEY),
    "another key, same kid": lambda: signed(good_claims(), {**OTHER_KEY, "kid": KEY["kid"]}),
    "RS256": lambda: signed(good_claims(), algorithm="RS256"),
    "ES384 key": lambda: signed(good_claims(), generate_private_jwk("ES384"), "ES384"),
    "alg none": lambda: jwt.encode(good_claims(), None, algorithm="none"),
    "HS384 with the public key as secret": lambda: _hs384_with_public_key(),
    "not a JWT": lambda: "garbage",
    "empty": lambda: "",
}


def _hs384_with_public_key() -> str:
    public = jwt.PyJWK.from_dict(public_jwk(KEY)).key
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(orjson.dumps({"alg": "HS384", "typ": "JWT"}))
    payload = _b64(orjson.dumps(good_claims(operator=True)))
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha384).digest()
    return f"{header}.{payload}.{_b64(mac)}"


@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_or_foreign_tokens_are_refused(service: TokenService, case: str) -> None:
    with pytest.raises(Unauthorized):
        service.verify(FORGERIES[case]())


def test_good_claims_are_accepted(service: TokenService) -> None:
    assert service.verify(signed(good_claims())).client_id == "c1"  # the table's baseline


def test_tampered_token(service: TokenService) -> None:
    token, _ = service.issue("c1", "Organization/la", Scopes.parse("system/Flag.rs"))
    header, payload, signature = token.split(".")
    raised = _b64(orjson.dumps({**claims_of(token), "scope": "system/*.cruds",
                                "operator": True}))
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + \
        signature[middle + 1:]
    for forged in (f"{header}.{raised}.{signature}", f"{header}.{payload}.{flipped}",
                   f"{header}.{payload}."):
        with pytest.raises(Unauthorized):
            service.verify(forged)
    assert service.verify(token).scopes == Scopes.parse("system/Flag.rs")


# --- the verification cache ----------------------------------------------------------------------


class CountingDecode:
    """Counts signature checks (calls of `jwt.decode` in the tokens module)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._decode = jwt.decode
        monkeypatch.setattr(tokens.jwt, "decode", self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._decode(*args, **kwargs)


def test_verified_tokens_are_cached(service: TokenService,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    decode = CountingDecode(monkeypatch)
    token, _ = service.issue("c1", "Organization/la", SCOPES)
    first = service.verify(token)
    assert service.verify(token) is first
    assert service.verify(token) is first
    assert decode.calls == 1
    other, _ = service.issue("c2", None, SCOPES)
    assert service.verify(other).client_id == "c2"
    assert decode.calls == 2


def test_refused_tokens_are_not_cached(service: TokenService,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    decode = CountingDecode(monkeypatch)
    forged = signed(good_claims(), OTHER_KEY)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            service.verify(forged)
    assert decode.calls == 2


def test_cached_token_still_expires(service: TokenService) -> None:
    token, _ = service.issue("c1", None, SCOPES, ttl=1)
    expires = claims_of(token)["exp"]
    if time.time() < expires:
        service.verify(token)  # cached while valid
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        service.verify(token)


def test_cache_is_bounded(service: TokenService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "CACHE_SIZE", 2)
    decode = CountingDecode(monkeypatch)
    issued = [service.issue(f"c{i}", None, SCOPES)[0] for i in range(3)]
    for token in issued:
        service.verify(token)
    assert decode.calls == 3
    service.verify(issued[2])  # still cached
    assert decode.calls == 3
    service.verify(issued[0])  # evicted: checked again
    assert decode.calls == 4


def test_a_cache_is_per_service(service: TokenService) -> None:
    token, _ = service.issue("c1", None, SCOPES)
    service.verify(token)
    with pytest.raises(Unauthorized):
        TokenService(OTHER_KEY).verify(token)


# --- client assertions (private_key_jwt) ------------------------------------------------------

CLIENT_KEY = generate_private_jwk()
CLIENT_EC_KEY = generate_private_jwk("ES384")
JWKS = [public_jwk(CLIENT_KEY), public_jwk(CLIENT_EC_KEY)]


def assertion(key: dict[str, Any] = CLIENT_KEY, algorithm: str | None = None,
              kid: Any = "same", **changes: Any) -> str:
    moment = int(time.time())
    claims = {"iss": "client-1", "sub": "client-1", "aud": TOKEN_URL,
              "jti": uuid.uuid4().hex, "iat": moment, "exp": moment + 240}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    signer = jwt.PyJWK.from_dict(key)
    headers = {} if kid is None else {"kid": key["kid"] if kid == "same" else kid}
    return jwt.encode(claims, signer.key, algorithm=algorithm or signer.algorithm_name,
                      headers=headers)


@pytest.mark.parametrize("key", [CLIENT_KEY, CLIENT_EC_KEY], ids=["RS384", "ES384"])
def test_client_assertion_round_trip(key: dict[str, Any]) -> None:
    made = client_assertion("client-1", key, TOKEN_URL)
    claims = claims_of(made)
    assert claims["iss"] == claims["sub"] == "client-1" and claims["aud"] == TOKEN_URL
    assert claims["exp"] - claims["iat"] <= 300
    assert jwt.get_unverified_header(made)["alg"] == key["alg"]
    verified = verify_client_assertion(made, "client-1", JWKS, [TOKEN_URL])
    assert verified.client_id == "client-1"
    assert verified.jti == claims["jti"] and verified.expires == claims["exp"]
    assert unverified_client_id(made) == "client-1"


def test_assertion_without_kid_tries_every_key() -> None:
    verified = verify_client_assertion(assertion(CLIENT_EC_KEY, kid=None), "client-1", JWKS,
                                       [TOKEN_URL])
    assert verified.client_id == "client-1"


def test_assertion_audience_may_be_any_token_url() -> None:
    urls = ["https://cradle.example/auth/token", "http://10.0.0.5:8000/auth/token"]
    for url in urls:
        assert verify_client_assertion(assertion(aud=url), "client-1", JWKS, urls)


BAD = {
    "wrong audience": lambda: assertion(aud="https://elsewhere.example/auth/token"),
    "audience list without the token url": lambda: assertion(aud=["https://a.example"]),
    "expired": lambda: assertion(iat=int(time.time()) - 900, exp=int(time.time()) - 60),
    "more than five minutes": lambda: assertion(exp=int(time.time()) + 400),
    "not yet valid": lambda: assertion(nbf=int(time.time()) + 600),
    "iss is another client": lambda: assertion(iss="client-2", sub="client-2"),
    "sub differs": lambda: assertion(sub="client-2"),
    "no jti": lambda: assertion(jti=None),
    "no exp": lambda: assertion(exp=None),
    "no sub": lambda: assertion(sub=None),
    "unregistered key": lambda: assertion(generate_private_jwk()),
    "unregistered key, registered kid": lambda: assertion(
        {**generate_private_jwk(), "kid": CLIENT_KEY["kid"]}),
    "unknown kid": lambda: assertion(kid="nobody"),
    "RS256": lambda: assertion(algorithm="RS256"),
    "alg none": lambda: jwt.encode({"iss": "client-1", "sub": "client-1", "aud": TOKEN_URL,
                                    "jti": "j", "exp": int(time.time()) + 60}, None,
                                   algorithm="none"),
    "not a JWT": lambda: "a.b.c",
}


@pytest.mark.parametrize("case", list(BAD))
def test_unacceptable_assertions(case: str) -> None:
    with pytest.raises(Unauthorized):
        verify_client_assertion(BAD[case](), "client-1", JWKS, [TOKEN_URL])


def test_assertion_lifetime_allows_clock_skew() -> None:
    moment = int(time.time())
    for exp in (moment + 300, moment - 10):  # five minutes ahead; just expired (leeway)
        assert verify_client_assertion(assertion(exp=exp), "client-1", JWKS, [TOKEN_URL])


@pytest.mark.parametrize("made", [
    "not-a-jwt", jwt.encode({"sub": "x"}, "k" * 48, algorithm="HS384"),
    jwt.encode({"iss": "a", "sub": "b"}, "k" * 48, algorithm="HS384"),
    jwt.encode({"iss": "", "sub": ""}, "k" * 48, algorithm="HS384"),
])
def test_unverified_client_id_needs_iss_equal_to_sub(made: str) -> None:
    with pytest.raises(Unauthorized):
        unverified_client_id(made)
