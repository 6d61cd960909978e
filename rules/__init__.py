"""Shipped rule packs and the default decision policy (data; installed as evaluator.rules)."""
