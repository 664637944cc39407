"""Actions: the typed steps playbooks call (``@action`` in certsoar.registry)."""
