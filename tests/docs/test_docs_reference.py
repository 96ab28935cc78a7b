"""The manual keeps up with the code: generated reference pages, hooks and the worked example."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from crashbot_core.config import env_field

DOCS = Path(__file__).resolve().parents[2] / "docs"
REFERENCE = DOCS / "reference"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_reference"] = module
    # No docs/__pycache__: docs/ is the manual's source folder.
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """The reference pages as the current code produces them."""
    try:
        files: dict[str, str] = gen.generate()
        return files
    except gen.MissingPlugin as exc:
        pytest.skip(str(exc))


def test_committed_reference_pages_match_the_code(generated: dict[str, str]) -> None:
    problems = []
    for name, text in sorted(generated.items()):
        path = REFERENCE / name
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        if committed != text:
            diff = difflib.unified_diff(
                committed.splitlines(),
                text.splitlines(),
                f"committed docs/reference/{name}",
                "generated from the code",
                lineterm="",
            )
            problems.append("\n".join(list(diff)[:30]))
    extra = sorted({p.name for p in REFERENCE.iterdir()} - set(generated))
    assert not extra, f"docs/reference/ has files the generator no longer writes: {extra}"
    assert not problems, (
        "docs/reference/ is out of date: run python docs/gen_reference.py\n\n"
        + "\n\n".join(problems)
    )


def test_check_mode_names_the_stale_file_and_the_command(
    tmp_path: Path, generated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(generated)
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0

    page = tmp_path / "cli.md"
    page.write_text(page.read_text(encoding="utf-8").replace("crashbot ack", "crashbot nack"))
    capsys.readouterr()
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cli.md is out of date: run python docs/gen_reference.py" in err
    assert "configuration.md" not in err


def test_every_setting_of_core_and_builtin_plugins_has_a_row(generated: dict[str, str]) -> None:
    from crashbot_core.config import FileSettings
    from crashbot_core.plugins import collect_sections

    page = generated["configuration.md"]
    classes = [cls for _, cls, _ in gen._core_sections()]
    for name, cls in collect_sections(gen.builtin_plugin_manager()).items():
        classes += [sub for _, sub, _ in gen._section_classes(cls, f"[{name}]", "")]
    assert len(classes) > len(attrs.fields(FileSettings))
    for cls in classes:
        for a in attrs.fields(cls):
            if gen._holds_tables(gen._hints(cls).get(a.name)) or attrs.has(
                gen._unoptional(gen._hints(cls).get(a.name))[0]
            ):
                continue
            assert f"| `{a.name}` |" in page, f"{cls.__name__}.{a.name} missing"
            if env := a.metadata.get("env"):
                assert f"| `{env}` |" in page, f"{env} missing"


def test_every_command_including_plugin_commands_has_a_heading(
    generated: dict[str, str],
) -> None:
    page = generated["cli.md"]
    for heading in (
        "## `crashbot declare`",
        "### `crashbot db upgrade`",
        "### `crashbot slack manifest`",
        "### `crashbot discord run`",
        "### `crashbot status export`",
    ):
        assert heading in page
    assert "*From the `slack` plugin.*" in page
    assert "| `--public / --private` | Show on the status page" in page


def test_http_reference_lists_every_operation_of_the_openapi_document(
    generated: dict[str, str],
) -> None:
    if "openapi.json" not in generated:
        pytest.skip("crashbot_status is not installed")
    import json

    doc = json.loads(generated["openapi.json"])
    page = generated["http-api.md"]
    methods = {"get", "head", "post", "put", "patch", "delete"}
    operations = [
        f"## `{method.upper()} {path}`"
        for path, item in doc["paths"].items()
        for method in item
        if method in methods
    ]
    assert len(operations) >= 10
    for heading in operations:
        assert heading in page


@attrs.define
class _Documented:
    """A settings class written the way crashbot's are."""

    #: Above the field,
    #: over two lines.
    first: str = "a"
    second: int = 2  #: Beside the field.
    third: list[str] = attrs.field(factory=list)
    """A string below the field."""
    secret: str | None = env_field("EXAMPLE_SECRET")
    undocumented: bool = False


def test_attribute_docs_reads_comments_above_beside_and_strings_below() -> None:
    assert gen.attribute_docs(_Documented) == {
        "first": "Above the field, over two lines.",
        "second": "Beside the field.",
        "third": "A string below the field.",
    }


def test_settings_table_shows_types_defaults_and_environment() -> None:
    text, envs = gen._settings_table(_Documented, "[example]")
    assert '| `first` | string | `"a"` |   | Above the field, over two lines. |' in text
    assert "| `third` | list of strings | `[]` |" in text
    assert "| `secret` | string | unset | `EXAMPLE_SECRET` |" in text
    assert "| `undocumented` | boolean | `false` |" in text
    assert envs == [("EXAMPLE_SECRET", "`[example] secret`", "")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pings <!here> | a ``b|c`` pipe", "Pings &lt;!here> \\| a `b|c` pipe"),
        ("See :class:`~crashbot_core.Crashbot` and :mod:`a.b`", "See `Crashbot` and `a.b`"),
        ("two\n   lines", "two lines"),
    ],
)
def test_docstring_text_is_safe_in_a_markdown_table(text: str, expected: str) -> None:
    assert gen.md(text) == expected


# ---------------------------------------------------------------------------
# The plugin author's guide (docs/plugins.md)
# ---------------------------------------------------------------------------

EXAMPLE = DOCS / "examples" / "my-pager"


def _guide_section(heading: str) -> str:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/plugins.md has no section '## {heading}'"
    return match.group(1)


def _hook_specs() -> dict[str, list[str]]:
    from crashbot_core.plugins import get_plugin_manager

    pm = get_plugin_manager(entry_points=False, disabled=())
    return {
        name: list(caller.spec.argnames)
        for name, caller in vars(pm.hook).items()
        if name.startswith("crashbot_") and caller.spec is not None
    }


def test_guide_documents_every_hook_with_its_arguments() -> None:
    hooks = _hook_specs()
    assert len(hooks) >= 8
    text = _guide_section("Hooks")
    for name, args in hooks.items():
        heading = f"### {name}({', '.join(args)})"
        assert re.search(rf"^{re.escape(heading)}$", text, re.M), (
            f"docs/plugins.md documents no hook heading {heading!r}"
        )


def test_worked_example_quotes_the_example_package_verbatim() -> None:
    text = _guide_section("A worked example: paging PagerDuty")
    source = (EXAMPLE / "src" / "my_pager" / "__init__.py").read_text(encoding="utf-8")
    pyproject = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", text, re.M | re.S)
    python = [body for lang, body in blocks if lang == "python"]
    assert len(python) >= 3
    for body in python:
        assert body in source, f"docs/plugins.md quotes code the example no longer has:\n{body}"
    registration = [b for lang, b in blocks if lang == "toml" and b.startswith("[project.")]
    assert registration and all(b in pyproject for b in registration)
    assert "tests/docs/test_docs_example_pager.py" in text
