"""Identity in the service, as pure functions: tokens by SHA-256, the trusted proxy's header only from the
proxy, refusals limited per address."""

from __future__ import annotations

import pytest

from certsoar.config import Config
from certsoar.errors import AccessError, RateLimited
from certsoar.service.identity import (
    RefusalLimiter,
    new_token,
    proxy_user,
    token_digest,
    token_principal,
)


def config(**service: object) -> Config:
    return Config.model_validate({"analysts": {"alice": {"roles": ["soc-tier2"]}}, "service": service})


def test_a_token_is_known_by_its_hash_and_carries_its_scopes_and_analyst() -> None:
    secret, entry = new_token("alice-cli", analyst="alice", scopes=["read", "decide"])
    assert secret not in entry and token_digest(secret) in entry
    cfg = config(
        tokens=[{"name": "alice-cli", "sha256": token_digest(secret), "analyst": "alice", "scopes": ["read", "decide"]}]
    )
    p = token_principal(cfg, f"Bearer {secret}")
    assert (p.name, p.analyst, p.scopes, p.via) == ("alice-cli", "alice", frozenset({"read", "decide"}), "api")
    assert token_principal(cfg, f"bearer   {secret}  ").name == "alice-cli"
    for header in (None, "", "Bearer", f"Basic {secret}", f"Bearer {secret}x", f"Bearer {token_digest(secret)}"):
        with pytest.raises(AccessError):
            token_principal(cfg, header)


def test_the_proxy_header_is_believed_only_from_the_proxy() -> None:
    cfg = config(trusted_proxy={"header": "X-Forwarded-User", "from": ["10.0.0.5/32", "fd00::/64"]})
    headers = {"X-Forwarded-User": "alice"}
    assert proxy_user(cfg, "10.0.0.5", headers) == "alice"
    assert proxy_user(cfg, "fd00::17", headers) == "alice"
    assert proxy_user(cfg, "10.0.0.6", headers) is None
    assert proxy_user(cfg, "::ffff:10.0.0.5", headers) == "alice"  # a dual-stack socket's form of the proxy
    assert proxy_user(cfg, "::ffff:10.0.0.6", headers) is None
    assert proxy_user(cfg, "not-an-address", headers) is None
    assert proxy_user(cfg, None, headers) is None
    assert proxy_user(cfg, "10.0.0.5", {"X-Forwarded-User": "  "}) is None
    assert proxy_user(config(), "10.0.0.5", headers) is None  # no trusted_proxy: never believed


def test_refusals_are_limited_per_address_over_a_window() -> None:
    limiter = RefusalLimiter(allowed=3, window=60)
    for _ in range(3):
        limiter.check("192.0.2.1")
        limiter.refused("192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        limiter.check("192.0.2.1")
    assert refused.value.retry_after >= 1
    limiter.check("192.0.2.2")  # another address is not affected
    expired = RefusalLimiter(allowed=1, window=0.0)
    expired.refused("192.0.2.1")
    expired.check("192.0.2.1")  # past the window the address may try again
