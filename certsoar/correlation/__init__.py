"""Pure correlation logic over SIEM events: identities, creation bursts (E2), traffic change (E3)."""
