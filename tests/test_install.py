"""A durable-rules build that cannot be imported (issue 17, section 2), simulated: no install here.

On Python 3.13 a plain ``pip install`` builds durable-rules 2.0.28 with an undefined
``PyEval_CallObject``. ``engine.load_engine`` loads such a build with lazy binding; where that is
refused, every command that needs the engine says which command rebuilds it and exits 2. The
real builds are exercised by .ci/run (a plain install on 3.13, and ``LD_BIND_NOW=1``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import shlex
import subprocess
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from evaluator import engine
from evaluator.errors import EngineError

from conftest import EXAMPLES, ROOT

UNDEFINED = ("/venv/lib/python3.13/site-packages/durable_rules_engine.cpython-313-x86_64-linux-gnu.so: "
             "undefined symbol: PyEval_CallObject")
FIX = (f"CPPFLAGS=-DPyEval_CallObject=PyObject_CallObject {shlex.quote(sys.executable)} -m pip install "
       "--force-reinstall --no-binary durable-rules --no-cache-dir durable-rules==2.0.28")
BUILT_WITHOUT_FIX = ("the durable-rules engine was built without the Python 3.13 fix (undefined symbol "
                     f"PyEval_CallObject); reinstall it with: {FIX}")
SETTERS = ("set_store_message_callback", "set_delete_message_callback", "set_queue_message_callback",
           "set_get_queued_messages_callback", "set_get_idle_state_callback")


class FakeBuild(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stands in for the engine's extension: an ``error`` while the dynamic loader binds every
    symbol at once (``RTLD_NOW``); with lazy binding, a module with the real one's callback
    setters when ``lazy_loads``, else the error again. Records the flags of every attempt."""

    def __init__(self, error: ImportError, lazy_loads: bool) -> None:
        self.error, self.lazy_loads = error, lazy_loads
        self.flags: list[int] = []

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name != engine.ENGINE_MODULE:
            return None
        self.flags.append(sys.getdlopenflags())
        if self.lazy_loads and self.flags[-1] & os.RTLD_NOW == 0:
            return importlib.machinery.ModuleSpec(name, self)
        raise self.error

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        for name in (*SETTERS, "create_ruleset", "assert_facts"):
            setattr(module, name, print)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


Build = Callable[[ImportError, bool], FakeBuild]


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch) -> Build:
    """Install a ``FakeBuild`` in front of the real engine (both undone after the test)."""
    monkeypatch.delitem(sys.modules, engine.ENGINE_MODULE)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))

    def make(error: ImportError, lazy_loads: bool) -> FakeBuild:
        fake = FakeBuild(error, lazy_loads)
        sys.meta_path.insert(0, fake)
        return fake

    return make


def test_a_build_without_the_fix_is_loaded_with_lazy_binding_and_without_its_callback_setters(
        build: Build) -> None:
    before = sys.getdlopenflags()
    fake = build(ImportError(UNDEFINED), True)
    module = engine.load_engine()
    assert fake.flags == [before, (before & ~os.RTLD_NOW) | os.RTLD_LAZY]
    assert sys.getdlopenflags() == before
    assert not [name for name in SETTERS if hasattr(module, name)]
    assert module.create_ruleset is print and module.assert_facts is print


def test_where_lazy_binding_is_refused_the_error_names_the_command_that_rebuilds_the_engine(
        build: Build) -> None:
    before = sys.getdlopenflags()
    fake = build(ImportError(UNDEFINED), False)
    with pytest.raises(EngineError) as raised:
        engine.load_engine()
    assert str(raised.value) == BUILT_WITHOUT_FIX
    assert len(fake.flags) == 2
    assert sys.getdlopenflags() == before


def test_any_other_import_failure_is_not_retried_and_names_the_same_command(build: Build) -> None:
    fake = build(ModuleNotFoundError("No module named 'durable_rules_engine'"), True)
    with pytest.raises(EngineError) as raised:
        engine.load_engine()
    assert str(raised.value) == ("the durable-rules engine cannot be loaded (No module named "
                                 f"'durable_rules_engine'); reinstall it with: {FIX}")
    assert len(fake.flags) == 1


# A fresh interpreter whose engine cannot be loaded even lazily (as under LD_BIND_NOW=1).
_BROKEN_ENGINE = f"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "durable_rules_engine":
            raise ImportError({UNDEFINED!r})
sys.meta_path.insert(0, Refuse())
sys.argv[0] = "sandbox"
from evaluator.cli import console_main
console_main()
"""


def _sandbox(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BROKEN_ENGINE, *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("args", [
    ["check", str(EXAMPLES / "robotaxi-pilot.yaml")],
    ["check", "-j", "2", str(EXAMPLES / "robotaxi-pilot.yaml"), str(EXAMPLES / "radiology-triage.yaml")],
    ["rules", "test"],
], ids=["check", "check-jobs", "rules-test"])
def test_a_command_that_needs_the_engine_prints_the_fixing_command_once_and_exits_2(
        tmp_path: Path, args: list[str]) -> None:
    done = _sandbox(tmp_path, *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"error: {BUILT_WITHOUT_FIX}\n")
    assert list(tmp_path.iterdir()) == []


def test_commands_that_do_not_need_the_engine_still_work(tmp_path: Path) -> None:
    assert _sandbox(tmp_path, "--version").stdout.startswith("sandbox ")
    init = _sandbox(tmp_path, "init", "--domain", "medical_ai", "-o", "new.yaml")
    assert (init.returncode, init.stderr) == (0, "wrote new.yaml\n")
    lint = _sandbox(tmp_path, "rules", "lint")
    assert (lint.returncode, lint.stderr) == (0, "")
