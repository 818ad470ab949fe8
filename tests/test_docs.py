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


def test_every_settings_section_has_its_table() -> None:
    """Each settings model reachable from the root has its own table (a section missing from
    `configdoc.SECTIONS` would leave its fields undocumented)."""
    import typing

    from pydantic import BaseModel

    from vigil.config import VigilSettings
    from vigil.configdoc import SECTIONS

    documented = {model for _, _, model in SECTIONS}
    missing: list[str] = []

    def walk(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            for candidate in (field.annotation, *typing.get_args(field.annotation)):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    if candidate not in documented and not any(issubclass(d, candidate) for d in documented):
                        missing.append(f"{path}{name}")
                    walk(candidate, f"{path}{name}.")

    walk(VigilSettings, "")
    assert not missing, f"add these sections to vigil/configdoc.py SECTIONS: {missing}"


def test_web_page_table_lists_every_page_of_the_nav() -> None:
    """docs/web.md's page table has a row for each link of the top bar and of the activity tabs
    (the Anonymise page was in the nav but not in the table)."""
    import re

    templates = ROOT / "vigil" / "web" / "templates"
    nav = (templates / "base.html").read_text().split("<nav>", 1)[1].split("</nav>", 1)[0]
    tabs = (templates / "activity_tabs.html").read_text()
    pages = set(re.findall(r'<a href="(/[^"]*)"', nav + tabs))
    assert {"/live", "/jobs", "/anonymize", "/activity", "/activity/history"} <= pages
    rows = set(re.findall(r"^\| `(/[^`]*)` \|", (ROOT / "docs" / "web.md").read_text(), re.MULTILINE))
    assert sorted(pages - rows) == []
