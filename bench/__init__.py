"""The benchmark (``python -m bench``) and the seeded input generators it shares with the tests."""
