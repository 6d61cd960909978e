"""sandbox: evaluate regulatory-sandbox proposals against YAML rule packs.

The pipeline runs in one direction, one module per stage:
``loader`` (YAML with source positions) -> ``validate`` (JSON Schema) -> ``model``
-> ``engine`` (durable_rules, behind one adapter) -> ``results`` -> ``render`` -> ``cli``.
"""

__version__ = "0.1.0"
