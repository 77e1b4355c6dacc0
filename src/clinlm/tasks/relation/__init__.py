"""Relation extraction between entities: ``task``, ``candidates`` (which pairs), ``markers`` (how a pair
is marked in its text), ``model`` (the head), ``pipeline`` (``clinlm.load_relations``), ``metrics``, ``commands``."""
