"""The lab's config.yaml: every connector pointed at the lab folder, analysts, trust, allowlist, thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509

from certsoar.lab.certificate_encodings import spki_sha256
from certsoar.lab.paths import LabPaths
from certsoar.lab.story import AUTOMATION_TEMPLATE


def write_config(paths: LabPaths, wiki: x509.Certificate, built: datetime) -> None:
    expires = (built + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths.config.write_text(
        _CONFIG_YAML.format(wiki_spki=spki_sha256(wiki), wiki_expires=expires, automation=AUTOMATION_TEMPLATE),
        encoding="utf-8",
    )


_CONFIG_YAML = """\
# The bundled certsoar lab. Relative paths are resolved against this folder.
state_dir: ..            # the state dir itself
connectors:
  siem: {{type: files, paths: [logs]}}
  ca: {{type: openssl-ca, openssl_config: ca/openssl.cnf}}
  firewall: {{type: nftables, ruleset: firewall/certsoar.nft, apply: false}}
  proxy: {{type: squid, fingerprint_file: proxy/rogue-certs.txt, reconfigure: false}}
  ticket: {{type: local}}
  notify: [{{type: console}}, {{type: file, outbox: outbox}}]
analysts: {{alice: {{roles: [soc-tier2]}}, bob: {{roles: [soc-tier2, soc-lead]}}, carol: {{roles: [soc-l1]}}}}
trust: {{internal_roots: [ca/ca.pem]}}
organization: {{domains: [corp.example]}}
allowlist:
  # wiki.corp.example keeps its key across renewals: vouched for by its key, not by one certificate
  - spki_sha256: {wiki_spki}
    owner: it-ops
    reason: the internal wiki (wiki.corp.example, 10.20.1.11); renewed yearly with the same key
    expires: "{wiki_expires}"
thresholds:
  # Every other threshold is the documented default (E2: 2 unrelated in 1h or 3 in 24h; E3: z 3.5, ratio 3,
  # 10 MB/h, 50 connections/h, beacons of 10+ connections with CV < 0.2).
  creation_burst:
    automation: [{automation}]   # machine autoenrollment
"""
