"""Configuration: crashbot.toml + environment, and the errors a user sees."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from crashbot_core import env_field, load_config
from crashbot_core.config import DEFAULT_DATABASE_URL, GeneralSettings, find_config_file
from crashbot_core.errors import ConfigError
from crashbot_core.models import Impact
from crashbot_core.severity import Postmortem


@attrs.define
class ChatSettings:
    """A plugin's section, as a plugin would declare it."""

    bot_token: str | None = env_field("CHAT_BOT_TOKEN")
    channel: str = env_field("CHAT_CHANNEL", "incidents")
    socket_mode: bool = env_field("CHAT_SOCKET_MODE", False)
    max_retries: int = env_field("CHAT_MAX_RETRIES", 3)
    emoji: str = "fire"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crashbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str, **kwargs: object) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def test_no_file_gives_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.path is None
    assert config.database_url == DEFAULT_DATABASE_URL == "sqlite:///crashbot.db"
    assert config.ref_prefix == "INC"
    assert config.severity_policy.keys == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert config.severity_policy.default == "SEV4"
    assert [r.key for r in config.roles] == [
        "commander",
        "communications",
        "technical-lead",
        "scribe",
    ]
    assert config.stale_after == timedelta(days=7)
    assert config.rca_due_after == timedelta(hours=48)
    assert config.components == ()


def test_a_full_file_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[crashbot]
name = "Acme"
ref_prefix = "OPS"
default_severity = "P2"
stale_after = "3d"
database_url = "sqlite:///acme.db"

[severity.SEV1]
respond_within = "10m"
postmortem = "optional"
impact = "partial_outage"
public = false

[severity.SEV4]
respond_within = "next business day"

[components.api]
name = "Checkout API"
group = "Core"

[components.web]
""",
    )
    config = load_config(path, env={})
    assert config.path == path
    assert config.general.name == "Acme"
    assert config.ref_prefix == "OPS"
    assert config.database_url == "sqlite:///acme.db"
    assert config.severity_policy.default == "SEV3"
    assert config.stale_after == timedelta(days=3)
    sev1 = config.severity_policy.get("SEV1")
    assert sev1.respond_within == timedelta(minutes=10)
    assert sev1.postmortem is Postmortem.OPTIONAL
    assert sev1.impact is Impact.PARTIAL_OUTAGE
    assert sev1.public is False
    assert sev1.label == "Critical"  # untouched fields keep the built-in values
    assert config.severity_policy.get("SEV4").respond_within is None
    assert [(c.key, c.name, c.group, c.position) for c in config.components] == [
        ("api", "Checkout API", "Core", 0),
        ("web", "web", "", 1),
    ]


def test_wrong_type_names_file_key_found_and_expected(tmp_path: Path) -> None:
    assert error_for(tmp_path, "[crashbot]\nname = 5\n") == (
        "expected a string, found int 5 @ $.crashbot.name"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[severity.SEV1]\npublic = 'yes'\n", "expected true or false, found 'yes' @ $.severity['SEV1'].public"),
        ("[severity.SEV1]\npostmortem = 'maybe'\n",
         "expected one of 'required', 'optional', 'none', found 'maybe' @ $.severity['SEV1'].postmortem"),
        ("[severity.SEV2]\nimpact = 'meltdown'\n", "found 'meltdown' @ $.severity['SEV2'].impact"),
        ("[severity.SEV1]\nrespond_within = 'soon'\n",
         "$.severity.SEV1.respond_within: found 'soon', expected a duration such as 5m, 2h or 1d"),
        ("[severity.SEV1]\nupdate_every = 25\n", "expected a string, found int 25 @ $.severity['SEV1'].update_every"),
        ("[roles.commander]\naliases = 'ic'\n", "expected a list of strings, found 'ic' @ $.roles['commander'].aliases"),
        ("[crashbot]\nseverity_levels = 'SEV1'\n", "expected a list of strings, found 'SEV1' @ $.crashbot.severity_levels"),
        ("[crashbot]\nseverity_levels = ['SEV1', 'SEV7']\n",
         "$.crashbot.severity_levels: found 'SEV7', expected one of SEV1, SEV2, SEV3, SEV4"),
        ("[crashbot]\ndefault_severity = 'SEV9'\n",
         "$.crashbot.default_severity: found 'SEV9', expected one of SEV1, SEV2, SEV3, SEV4"),
        ("[crashbot]\nseverity_levels = ['SEV1', 'SEV2']\n",
         "$.crashbot.default_severity: found 'SEV4', expected one of SEV1, SEV2"),
        ("[crashbot]\nstale_after = 'soon'\n",
         "$.crashbot.stale_after: found 'soon', expected a duration such as 5m, 2h or 1d"),
        ("[crashbot]\nrca_due_after = 'never'\n",
         "$.crashbot.rca_due_after: found 'never', expected a duration such as 7d or 48h"),
        ("[crashbot]\nref_prefix = 'inc 1'\n", "$.crashbot.ref_prefix: found 'inc 1', expected letters"),
        ("[severity.SEV1]\nlabel = 'High'\n", "$.severity: severity name 'High' is used by both SEV1 and SEV2"),
        ("crashbot = 3\n", "$.crashbot: expected a table, found 3"),
        ("[components.api]\nname = 3\n", "expected a string, found int 3 @ $.components['api'].name"),
        ("[components.'API Gateway']\n", "$.components.API Gateway: found the key 'API Gateway', expected lower-case"),
    ],
)  # fmt: skip
def test_bad_values_are_reported_with_key_path_found_and_expected(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in error_for(tmp_path, text)


def test_unknown_keys_are_errors_listing_the_known_ones(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[crashbot]\nnmae = 'Acme'\nfoo = 1\n")
    assert message.startswith("unknown key(s) foo, nmae; expected database_url, api_token, ")
    assert message.endswith(", name @ $.crashbot")
    expected = message.split("; expected ")[1].removesuffix(" @ $.crashbot").split(", ")
    assert expected == [a.name for a in attrs.fields(GeneralSettings)]
    assert "unknown key(s) colour" in error_for(tmp_path, "[severity.SEV1]\ncolour = '#fff'\n")


def test_unknown_section_is_an_error_naming_the_known_ones(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[slak]\ntoken = 'x'\n", sections={"slack": ChatSettings})
    assert message.startswith("unknown section [slak]; expected one of ")
    assert message.endswith("(is the plugin for it installed?)")
    expected = message.removeprefix("unknown section [slak]; expected one of ").split(" (")[0]
    assert {"components", "crashbot", "roles", "severity", "slack"} <= set(expected.split(", "))


def test_bad_toml_says_where(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[crashbot\nname = 'x'\n")
    assert message.startswith("not valid TOML: ")
    assert "line 1" in message


def test_a_missing_file_given_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such config file"):
        load_config(tmp_path / "nope.toml", env={})


def test_config_file_comes_from_the_environment_then_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config_file() is None
    write(tmp_path, "[crashbot]\nname = 'here'\n")
    assert find_config_file() == Path("crashbot.toml")
    other = tmp_path / "other.toml"
    other.write_text("[crashbot]\nname = 'there'\n")
    monkeypatch.setenv("CRASHBOT_CONFIG", str(other))
    assert load_config(env={}).general.name == "there"
    assert load_config(tmp_path / "crashbot.toml", env={}).general.name == "here"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[crashbot]\ndatabase_url = 'sqlite:///file.db'\napi_token = 'from-file'\n"
    )
    config = load_config(
        path,
        env={
            "CRASHBOT_DATABASE_URL": "postgresql+psycopg://db/crashbot",
            "CRASHBOT_API_TOKEN": "from-env",
            "CRASHBOT_BASE_URL": "https://status.example.com",
        },
    )
    assert config.database_url == "postgresql+psycopg://db/crashbot"
    assert config.general.api_token == "from-env"
    assert config.general.base_url == "https://status.example.com"
    # An empty variable does not blank a setting.
    assert load_config(path, env={"CRASHBOT_DATABASE_URL": ""}).database_url == "sqlite:///file.db"


def test_plugin_sections_read_the_file_and_env_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "[chat]\nbot_token = 'file-token'\nemoji = 'rotating_light'\n")
    sections = {"chat": ChatSettings}
    config = load_config(
        path,
        env={"CHAT_BOT_TOKEN": "env-token", "CHAT_SOCKET_MODE": "true", "CHAT_MAX_RETRIES": "7"},
        sections=sections,
    )
    chat = config.section("chat")
    assert chat == ChatSettings(
        bot_token="env-token",
        channel="incidents",
        socket_mode=True,
        max_retries=7,
        emoji="rotating_light",
    )
    # Absent from file and env: the class defaults, and the section still exists.
    assert load_config(env={}, data={}, sections=sections).section("chat") == ChatSettings()
    assert config.section("nothing") is None


def test_plugin_section_errors_name_the_section(tmp_path: Path) -> None:
    sections = {"chat": ChatSettings}
    assert error_for(tmp_path, "[chat]\nsocket_mode = 1\n", sections=sections) == (
        "expected true or false, found 1 @ $.chat.socket_mode"
    )
    assert (
        "unknown key(s) token; expected bot_token, channel, socket_mode, max_retries, emoji @ $.chat"
        in error_for(tmp_path, "[chat]\ntoken = 'x'\n", sections=sections)
    )
    with pytest.raises(ConfigError, match="CHAT_MAX_RETRIES: found 'many', expected an integer"):
        load_config(data={}, env={"CHAT_MAX_RETRIES": "many"}, sections=sections)


def test_data_instead_of_a_file() -> None:
    config = load_config(data={"crashbot": {"ref_prefix": "SEC"}}, env={})
    assert config.ref_prefix == "SEC" and config.path is None
    with pytest.raises(ConfigError, match=r"^configuration: unknown section \[nope\]"):
        load_config(data={"nope": {}}, env={})
