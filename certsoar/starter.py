"""`certsoar init`: a commented starter config that loads as written and contains nothing until filled in.

Containment targets (CA, firewall, proxy) are left commented out: a starter must never report a block
or a revocation against a file no firewall, proxy or CA reads.
"""

from __future__ import annotations

from pathlib import Path

from certsoar.errors import ConfigError

CONFIG_NAME = "config.yaml"

STARTER_CONFIG = """\
# certsoar configuration, written by `certsoar init`. Use it with --config FILE or $CERTSOAR_CONFIG.
# Relative paths resolve against this file's folder. Secrets are env:NAME or file:PATH, never inline.
# Lines marked FILL IN point at placeholders: replace them with your own, then run
#   certsoar connectors check --config {config}
# Every key is described in examples/config.yaml and in manifest.json (connector settings).

state_dir: state          # run store, audit log and tickets

connectors:
  siem:
    type: files
    paths: [logs]         # FILL IN: your Zeek log folder, Suricata eve.json, JSON lines (logs/ is empty)

  # Containment targets. Until you configure them a run analyzes, escalates and notifies, and its
  # containment steps fail naming the missing connector: nothing is reported blocked or revoked.
  # ca:                   # FILL IN: the OpenSSL CA that issues your internal certificates
  #   type: openssl-ca
  #   openssl_config: /srv/pki/issuing-ca/openssl.cnf
  #   passphrase: env:CERTSOAR_CA_PASSPHRASE
  # firewall:             # FILL IN: the nftables ruleset file your firewall loads
  #   type: nftables
  #   ruleset: /etc/nftables.d/certsoar.nft
  #   apply: false        # true: load it with `nft -f` after each change
  # proxy:                # FILL IN: the Squid server_cert_fingerprint list
  #   type: squid
  #   fingerprint_file: /etc/squid/rogue-certs.txt
  #   reconfigure: false  # true: `squid -k parse` and `squid -k reconfigure` after each change

  ticket:
    type: local           # tickets kept in the run store
  notify:
    - type: console
    - type: file
      outbox: outbox      # rendered notifications, one file each

analysts:                 # FILL IN: who may approve; the shipped playbook's gate asks for soc-tier2
  alice: {{roles: [soc-tier2]}}
  bob: {{roles: [soc-tier2, soc-lead]}}

trust:
  internal_roots: []      # FILL IN: PEM files of your own root CAs
  crls: []

organization:
  domains: []             # FILL IN: DNS domains you own (example.com); names below them are inside

allowlist: []             # known legitimate certificates; see examples/config.yaml

# Never blocked, nor any network overlapping them, whatever an alert or the SIEM names as the server.
protected_networks: []    # FILL IN: your DNS servers, domain controllers, the SIEM, the firewall, the proxy
"""


def write_starter_config(folder: Path) -> Path:
    """Write ``folder/config.yaml`` (and the empty ``logs/`` it names); never overwrite a file."""
    folder = Path(folder)
    target = folder / CONFIG_NAME
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as out:
            out.write(STARTER_CONFIG.format(config=target))
    except FileExistsError as exc:
        raise ConfigError(f"{target} already exists; not overwritten (move it away or choose another folder)") from exc
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        (folder / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"wrote {target}, but cannot create {folder / 'logs'}: {exc.strerror or exc}") from exc
    return target
