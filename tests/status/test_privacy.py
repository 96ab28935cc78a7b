"""Property: a private incident's title and internal update text never reach public output."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from xml.sax.saxutils import escape as xml_escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashbot_core import FixedClock
from crashbot_core.testing import make_crashbot
from crashbot_status import create_app
from crashbot_status.export import export_site
from crashbot_status.views import STATIC_PATHS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 <>&'\"-_.!?é€"
secret_text = st.text(alphabet=ALPHABET, min_size=6, max_size=40).map(
    lambda s: f"S3CR3T {s} T3RC3S"
)


def forms(text: str) -> set[str]:
    """The ways a leaked text could be spelled in HTML, XML or JSON output."""
    return {
        text,
        html.escape(text),
        html.escape(text, quote=False),
        xml_escape(text),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=secret_text,
    note=secret_text,
    public_note=st.booleans(),
    severity=st.sampled_from(["SEV1", "SEV2", "SEV3", "SEV4"]),
)
def test_private_data_never_in_public_output(tmp_path_factory, title, note, public_note, severity):
    bot = make_crashbot(tmp_path_factory.mktemp("priv"), clock=FixedClock(T0))
    try:
        private = bot.declare(
            title, severity=severity, public=False, components={"api": "major_outage"}
        )
        bot.update(private.id, message=note, public=public_note, status="identified")
        visible = bot.declare(
            "Visible incident", severity="SEV2", public=True, components={"api": "partial_outage"}
        )
        bot.update(visible.id, message=note, public=False)
        bot.resolve(private.id, message=note)
        app = create_app(bot, {"CHANGE_TOKEN_TTL": 0})
        client = app.test_client()
        paths = [
            *STATIC_PATHS,
            f"/incidents/{private.id}",
            f"/incidents/{visible.id}",
            "/history/page/1",
        ]
        bodies = [client.get(p).get_data(as_text=True) for p in paths]
        out = tmp_path_factory.mktemp("export")
        bodies += [f.read_text(encoding="utf-8") for f in export_site(app, out)]
        needles = forms(title) | forms(note)
        for body in bodies:
            for needle in needles:
                assert needle not in body
        assert any("Visible incident" in b for b in bodies)
    finally:
        bot.close()
