"""Networks in the config go through certsoar.addresses (config.networks_of): rendered again from their
value, zone ids refused; and a network list that lets everyone in is refused where it would mean that."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from certsoar.config import Config, TrustedProxy


@pytest.mark.parametrize(
    "networks",
    [["0.0.0.0/0"], ["10.0.0.0/8", "::/0"], ["0.0.0.0/1", "128.0.0.0/1"]],
)
def test_a_trusted_proxy_that_is_every_address_is_refused(networks: list[str]) -> None:
    """Whoever the service believes the SSO header from can log in as any analyst."""
    with pytest.raises(ValidationError, match="cover every address: any client could name an analyst"):
        TrustedProxy.model_validate({"from": networks})


def test_trusted_proxy_networks_are_kept_as_parsed() -> None:
    proxy = TrustedProxy.model_validate({"from": [" 10.0.0.7 ", "2001:DB8::/32", "10.1.2.3/24"]})
    assert proxy.from_ == ["10.0.0.7", "2001:db8::/32", "10.1.2.0/24"]


@pytest.mark.parametrize("bad", ["fe80::1%eth0", "10.0.0.0/33", "dc1.corp"])
def test_protected_networks_and_proxies_refuse_what_is_not_a_network(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not an IP network"):
        Config.model_validate({"protected_networks": [bad]})
    with pytest.raises(ValidationError, match="is not an IP network"):
        TrustedProxy.model_validate({"from": [bad]})
