"""Where settings come from, besides pydantic-settings' own env/.env sources.

- `YAML_FILE`: the YAML file of this load (`--config` / `VIGIL_CONFIG_FILE`), read by pydantic-settings'
  `YamlConfigSettingsSource`, which deep-merges nested sections with the other sources.
- `SectionAliasSource`: seed variable names for fields of a section (seed 000's
  `STEP5_TRACKING_ENGINE` sets `track.engine`) and a section's former prefix (`legacy_env_prefix`:
  `VIGIL_TRACK_<NAME>`). pydantic-settings reads aliases of top-level fields only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource

YAML_FILE: ContextVar[Path | None] = ContextVar("vigil_yaml_file", default=None)


def section_models(settings_cls: type[BaseSettings]) -> dict[str, type[BaseModel]]:
    """Top-level fields whose type is a plain settings section (a BaseModel)."""
    sections: dict[str, type[BaseModel]] = {}
    for name, field in settings_cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = annotation
    return sections


def env_alias_names(field: FieldInfo) -> list[str]:
    """A field's alternative environment names, as written in its `AliasChoices`."""
    if not isinstance(field.validation_alias, AliasChoices):
        return []
    return [choice for choice in field.validation_alias.choices if isinstance(choice, str)]


class SectionAliasSource(PydanticBaseSettingsSource):
    """Section fields set through their alias names, from the environment, else the `.env` file
    (the values pydantic-settings' own dotenv source has read: the file is read once)."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        values: Mapping[str, str | None] = dotenv.env_vars if isinstance(dotenv, DotEnvSettingsSource) else {}
        file_values = {key.upper(): value for key, value in values.items() if value is not None}
        self._environ = {**file_values, **{key.upper(): value for key, value in os.environ.items()}}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for section, model in section_models(self.settings_cls).items():
            values = self._section_values(model)
            if values:
                found[section] = values
        return found

    def _section_values(self, model: type[BaseModel]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        legacy_prefix = getattr(model, "legacy_env_prefix", None)
        for name, field in model.model_fields.items():
            names = env_alias_names(field)
            if isinstance(legacy_prefix, str):
                names.append(f"{legacy_prefix}{name}")
            for alias in names:  # the first name listed wins
                value = self._environ.get(alias.upper())
                if value is not None:
                    values[name] = value
                    break
        return values
