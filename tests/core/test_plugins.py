"""The plugin manager, the hook specs and their documentation."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from crashbot_core import hookimpl, hookspecs
from crashbot_core.plugins import DISABLED_ENV, get_plugin_manager, hook_names

DOCS = Path(__file__).resolve().parents[2] / "docs"

HOOKS = sorted(
    name for name, fn in vars(hookspecs).items() if name.startswith("crashbot_") and callable(fn)
)


def test_every_hook_is_prefixed_and_has_a_docstring() -> None:
    assert "crashbot_incident_event" in HOOKS and "crashbot_open_store" in HOOKS
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc, f"{name} has no docstring"
        assert "Called" in doc, f"{name}'s docstring does not say when it is called"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook: str) -> None:
    # As datasette's test_plugin_hooks_are_documented: a new hook, or a
    # changed signature, fails here until docs/plugins.md describes it.
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    heading = f"### {hook}({params})"
    assert heading in text.splitlines(), f"docs/plugins.md has no heading {heading!r}"


def test_documented_hooks_exist() -> None:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    documented = re.findall(r"^### (crashbot_\w+)\(", text, flags=re.MULTILINE)
    assert sorted(documented) == HOOKS


def test_builtin_storage_plugin_is_registered_through_the_entry_point() -> None:
    pm = get_plugin_manager(disabled=())
    plugin = pm.get_plugin("sqlalchemy")
    assert plugin is not None
    assert plugin.__name__ == "crashbot_sqlalchemy.plugin"
    assert hook_names(pm, plugin) == ["crashbot_open_store"]
    assert pm.distributions["sqlalchemy"].metadata["Name"] == "crashbot"


def test_disabled_plugins_are_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLED_ENV, " sqlalchemy , nonexistent")
    pm = get_plugin_manager()
    assert pm.get_plugin("sqlalchemy") is None
    assert pm.is_blocked("sqlalchemy")
    assert get_plugin_manager(disabled=()).get_plugin("sqlalchemy") is not None


def test_an_implementation_of_no_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def crashbot_incident_evnt(self) -> None:  # pragma: no cover - never called
            pass

    pm = get_plugin_manager(entry_points=False)
    pm.register(Typo(), name="typo")
    from pluggy import PluginValidationError

    with pytest.raises(PluginValidationError, match="crashbot_incident_evnt"):
        pm.check_pending()
