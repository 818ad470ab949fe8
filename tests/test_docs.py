from pathlib import Path

from typer.testing import CliRunner

from vigil.cli import app
from vigil.configdoc import BEGIN, END, settings_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_doc_lists_every_setting() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == settings_markdown().strip(), "run `python -m vigil.configdoc`"
    for alias in ("CAMERAS_IPS", "CAMERAS_USB_MAX", "RETRY_BACKOFF", "USE_GPU"):
        assert f"`{alias}`" in block


def test_help_documents_watch_options() -> None:
    result = CliRunner().invoke(app, ["watch", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    options = ("--fps", "--realtime", "--no-realtime", "--duration", "--events", "--detector", "--config")
    for option in options:
        assert option in result.output
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme and "vigil watch" in readme
