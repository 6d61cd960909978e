"""Shared fixtures. ``pytest --update-goldens`` rewrites the golden files instead of comparing."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
MINI = TESTS / "fixtures" / "packs" / "mini"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(TESTS))
# The rule-pack cache (evaluator/cache.py) of a test run lives and dies with the run, never in ~.
_CACHE = tempfile.TemporaryDirectory(prefix="sandbox-test-cache-")
os.environ["SANDBOX_CACHE_DIR"] = _CACHE.name
# A test that unsets SANDBOX_CACHE_DIR to reach the default location lands here too, not in ~.
os.environ["XDG_CACHE_HOME"] = str(Path(_CACHE.name) / "xdg")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


MINIMAL_PROPOSAL = """\
descriptor_version: 1
metadata: {id: p1, title: Test proposal, version: "1", framework: ru-elr, domain: autonomous_vehicles}
applicant:
  name: ACME
  contact: {email: a@b.ru}
scope:
  term: {start: 2026-06-01, end: 2029-05-31, duration_months: 36}
technology:
  autonomous_vehicle:
    sae_level: 4
    intervention: remote_operator
    remote_operation: {dispatcher_internal_control: true}
safety:
  hazards:
    - {id: H1, description: x, mitigations: [a]}
    - {id: H2, description: y, mitigations: []}
oversight:
  reporting: {frequency_months: 6}
"""


# Property tests (tests/test_fuzz.py): reproducible in CI (derandomized, no example database);
# SANDBOX_FUZZ_EXAMPLES=1000 explores more locally.
def _fuzz_profile() -> None:
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "sandbox",
        max_examples=int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", "60")),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.load_profile("sandbox")


_fuzz_profile()
