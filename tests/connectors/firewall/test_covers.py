import pytest

from certsoar.connectors.firewall import covers


@pytest.mark.parametrize(
    ("blocked", "address", "expected"),
    [
        ({"192.0.2.1"}, "192.0.2.1", True),
        ({"192.0.2.0/24"}, "192.0.2.77", True),
        ({"192.0.2.0/24"}, "192.0.3.1", False),
        ({"192.0.2.0/25"}, "192.0.2.0/24", False),
        ({"2001:db8::/32"}, "2001:db8::1", True),
        ({"192.0.2.1"}, "2001:db8::1", False),
        (set(), "192.0.2.1", False),
    ],
)
def test_covers(blocked: set[str], address: str, expected: bool) -> None:
    assert covers(blocked, address) is expected
