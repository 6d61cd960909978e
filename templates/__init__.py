"""Shipped Jinja report templates (data; installed as evaluator.templates)."""
