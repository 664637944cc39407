"""The issuance policy: each rule, exceptions, and the config's field-named errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from certsoar.config import Config, IssuancePolicy, load_config
from certsoar.connectors.ca import IssuedCertificate
from certsoar.errors import ConfigError
from certsoar.issuance import judge

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
ORG = ["corp.example"]


def cert(**kw: Any) -> IssuedCertificate:
    values: dict[str, Any] = {
        "serial": "1000",
        "subject": "CN=www.corp.example",
        "not_before": NOW - timedelta(days=1),
        "not_after": NOW + timedelta(days=300),
        "status": "valid",
        "sha256": "ab" * 32,
        "san_dns": ["www.corp.example"],
        "key_type": "rsa",
        "key_bits": 2048,
        "is_ca": False,
        "ekus": ["1.3.6.1.5.5.7.3.1"],
    }
    return IssuedCertificate(**{**values, **kw})


STRICT = IssuancePolicy.model_validate(
    {
        "max_validity_days": 398,
        "min_rsa_bits": 2048,
        "allowed_curves": ["secp256r1"],
        "forbid": {
            "ca_true": True,
            "any_eku": True,
            "wildcard": True,
            "ip_outside": ["10.0.0.0/8"],
            "upn_san_mismatch": True,
        },
        "requesters": ["CORP\\pki-admin"],
        "templates": ["WebServer"],
    }
)


def rules(c: IssuedCertificate, policy: IssuancePolicy = STRICT) -> list[str]:
    return [b.rule for b in judge(c, policy, ORG, NOW).breaches]


def test_a_good_certificate_breaks_nothing() -> None:
    assert rules(cert()) == []
    assert rules(cert(key_type="ec", key_bits=256, curve="secp256r1")) == []
    assert rules(cert(san_ip=["10.1.2.3"], requester="corp\\PKI-Admin", template="WebServer")) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"san_dns": ["www.evil.example"]}, "outside_domains"),
        ({"subject": "CN=corp.example.evil.example", "san_dns": []}, "outside_domains"),
        ({"not_after": NOW + timedelta(days=5 * 365)}, "max_validity_days"),
        ({"key_bits": 1024}, "min_rsa_bits"),
        ({"key_type": "ec", "key_bits": 521, "curve": "secp521r1"}, "allowed_curves"),
        ({"is_ca": True}, "ca_true"),
        ({"ekus": ["2.5.29.37.0"]}, "any_eku"),
        ({"san_dns": ["*.corp.example"]}, "wildcard"),
        ({"san_ip": ["192.0.2.7"]}, "ip_outside"),
        ({"subject": "CN=lowpriv", "san_dns": [], "san_upn": ["administrator@corp.example"]}, "upn_san_mismatch"),
        ({"requester": "CORP\\pki-admin", "san_upn": ["administrator@corp.example"]}, "upn_san_mismatch"),
        ({"requester": "CORP\\mallory"}, "requesters"),
        ({"template": "User"}, "templates"),
    ],
)
def test_each_rule_fires_alone(change: dict[str, Any], rule: str) -> None:
    assert rules(cert(**change)) == [rule]


def test_a_upn_of_the_requester_is_no_mismatch() -> None:
    assert "upn_san_mismatch" not in rules(cert(requester="CORP\\alice", san_upn=["alice@corp.example"]))


def test_allowed_domains_default_to_the_organization() -> None:
    assert rules(cert(san_dns=["www.evil.example"]), IssuancePolicy()) == ["outside_domains"]
    own = IssuancePolicy(allowed_domains=["evil.example"])
    assert rules(cert(san_dns=["www.evil.example"], subject="CN=x"), own) == []


def test_an_unexpired_exception_excuses_only_its_rules_and_certificate() -> None:
    entry = {
        "serial": "10:00",
        "rules": ["wildcard"],
        "owner": "pki",
        "reason": "legacy LB",
        "expires": NOW + timedelta(days=1),
    }
    policy = STRICT.model_copy(update={"exceptions": IssuancePolicy.model_validate({"exceptions": [entry]}).exceptions})
    wildcard_and_long = cert(san_dns=["*.corp.example"], not_after=NOW + timedelta(days=900))
    verdict = judge(wildcard_and_long, policy, ORG, NOW)
    assert [b.rule for b in verdict.breaches] == ["max_validity_days"]
    assert [(b.rule, e.owner) for b, e in verdict.excused] == [("wildcard", "pki")]
    assert rules(cert(serial="1001", san_dns=["*.corp.example"]), policy) == ["wildcard"]
    assert judge(wildcard_and_long, policy, ORG, NOW + timedelta(days=2)).excused == []


def _load(tmp_path: Path, data: dict[str, Any]) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"policy": {"max_validity_days": 0}}, "policy.max_validity_days"),
        ({"policy": {"forbid": {"wildcards": True}}}, "policy.forbid.wildcards"),
        ({"policy": {"forbid": {"ip_outside": ["10.0.0.300/8"]}}}, "policy.forbid.ip_outside"),
        ({"policy": {"auto_revoke": ["everything"]}}, "policy.auto_revoke[0]"),
        ({"policy": {"allowed_curves": ["P-256"]}}, "policy.allowed_curves"),
        ({"policy": {"exceptions": [{"owner": "x", "reason": "y", "expires": "2030-01-01"}]}}, "policy.exceptions[0]"),
        (
            {"connectors": {"ca": {"type": "openssl-ca", "policy": {"min_rsa_bits": 100}}}},
            "connectors.ca.policy.min_rsa_bits",
        ),
        ({"sweeps": {"revocation": {"max_per_run": -1}}}, "sweeps.revocation.max_per_run"),
        ({"connectors": {"ticket": {"type": "local", "policy": {}}}}, "ticket.policy"),
        ({"schedules": [{"sweep": "revocation", "cron": "every 5 minutes"}]}, "schedules[0].cron"),
        ({"schedules": [{"sweep": "nothing", "cron": "* * * * *"}]}, "schedules[0].sweep"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, data: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, data)
    assert f"{where}: " in str(raised.value)


def test_the_ca_policy_replaces_the_global_one(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        {
            "policy": {"min_rsa_bits": 2048},
            "connectors": {"ca": {"type": "openssl-ca", "openssl_config": "x.cnf", "policy": {"min_rsa_bits": 3072}}},
        },
    )
    policy = config.issuance_policy()
    assert policy is not None and policy.min_rsa_bits == 3072
    assert config.connectors.ca is not None and "policy" not in config.connectors.ca.settings()
    assert _load(tmp_path, {"policy": {"min_rsa_bits": 2048}}).issuance_policy() == IssuancePolicy(min_rsa_bits=2048)
