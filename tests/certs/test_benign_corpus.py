"""Real benign certificates (tests/data/benign-certs/SOURCE.txt and certifi's roots): public intermediates
and roots, retired roots, vendor and private PKIs, Zeek-logged chains. None may escalate."""

from __future__ import annotations

import re

import pytest
from benign_corpus import CORPUS, RULES, cases, certificate_files, facts_of, fired_rules, run, table, zeek_logs

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_no_benign_certificate_escalates(case):
    facts = facts_of(case)
    assert fired_rules(facts) == [], (facts.ioc_reasons, facts.mimicry)
    assert "ca_true_on_leaf" not in facts.anomalies  # a CA certificate is judged as a CA


def test_the_corpus_covers_each_source():
    sources = {c.source for c in CASES}
    assert sources == {"file", "chain", "zeek", "certifi"}
    assert len([c for c in CASES if c.source == "zeek"]) >= 10


def test_every_corpus_file_has_its_source_and_license():
    listed = (CORPUS / "SOURCE.txt").read_text()
    for path in [*certificate_files(), *zeek_logs()]:
        assert path.name in listed, f"{path.name} is not in SOURCE.txt"
    assert re.search(r"License", listed)


def test_the_table_counts_every_rule_per_source():
    text = table(run(with_certifi=False))
    lines = text.splitlines()
    assert lines[0].startswith("| rule or signal | file (")
    for rule in RULES:
        row = next(line for line in lines if line.startswith(f"| {rule.id} |"))
        assert row.endswith("| 0 |"), row
