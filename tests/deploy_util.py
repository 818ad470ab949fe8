"""Readers of the deployment files (Dockerfile, docker-compose.yml, deploy/, docs/deploy.md) and
checkers of what they use against the code: `vigil` command lines parsed by the CLI's own click
commands, `VIGIL_*` variables resolved on the settings model, Makefile targets and variables,
`ray` command lines parsed by Ray's click CLI. Used by tests/test_deploy_files.py."""

from __future__ import annotations

import json
import re
import shlex
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer._click import Command, Context
from typer.core import TyperGroup
from typer.main import get_command

from vigil.cli import app as vigil_app
from vigil.config import VigilSettings
from vigil.detect.base import DetectorConfigBase
from vigil.detect.registry import detector_configs
from vigil.embed.base import EmbedderConfigBase
from vigil.embed.registry import embedder_configs

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
UNITS = ROOT / "deploy" / "systemd"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
MAKEFILE = ROOT / "Makefile"

# Variables the files set that are not Vigil settings, each with who reads it. Anything else
# outside VIGIL_* is refused: a misspelt VIGIL_ name must not pass as "someone else's".
FOREIGN_VARIABLES = {
    "POSTGRES_USER": "the pgvector/pgvector image: the role its first start creates",
    "POSTGRES_DB": "the pgvector/pgvector image: the database its first start creates",
    "POSTGRES_PASSWORD": "the pgvector/pgvector image: that role's password",
    "PGPASSWORD": "libpq (psycopg): the password of Vigil's PostgreSQL connections",
    "RAY_ADDRESS": "Ray: the head's address (ray start --address, ray status)",
    "RAY_NODE_IP": "deploy/systemd units: ray start --node-ip-address",
    "RAY_NUM_CPUS": "deploy/systemd units: ray start --num-cpus",
    "RAY_AUTH_MODE": "Ray: token authentication (`token`), on by default for a new head in Ray 2.60",
    "RAY_AUTH_TOKEN": "Ray: the cluster's token itself (compose)",
    "RAY_AUTH_TOKEN_PATH": "Ray: the file holding the cluster's token (systemd)",
    "PYTHONDONTWRITEBYTECODE": "Python",
    "PYTHONUNBUFFERED": "Python",
    "PIP_NO_CACHE_DIR": "pip",
    "PIP_DISABLE_PIP_VERSION_CHECK": "pip",
    "PATH": "the shell",
    "XDG_DATA_HOME": "vigil/paths.py: the per-user models dir is $XDG_DATA_HOME/vigil/models",
}
SHELLS = {"sh", "bash"}


class DeployFileError(AssertionError):
    """A deployment file uses something the code does not have."""


# ------------------------------------------------------------------ shell command lines
@dataclass(frozen=True)
class CommandLine:
    source: str  # file and place, for messages
    argv: tuple[str, ...]

    @property
    def program(self) -> str:
        return Path(self.argv[0]).name


def expand(word: str, env: dict[str, str], source: str) -> str:
    """`$NAME` / `${NAME}` replaced from `env`; an undefined variable is an error."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in env:
            raise DeployFileError(f"{source}: ${name} is not defined by the files")
        return env[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, word)


def _strip_prefixes(argv: list[str]) -> list[str]:
    """The command a shell line runs: without `VAR=value` assignments, exec, sudo -u USER,
    `docker compose exec|run SERVICE` and `python -m vigil`."""
    while argv:
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]) or argv[0] == "exec":
            argv = argv[1:]
        elif argv[0] == "sudo":
            argv = argv[1:]
            while argv and argv[0].startswith("-"):
                argv = argv[2:] if argv[0] in ("-u", "-g") else argv[1:]
        elif argv[:2] == ["docker", "compose"] and argv[2:3] and argv[2] in ("exec", "run"):
            rest = argv[3:]
            while rest and rest[0].startswith("-"):
                rest = rest[1:]
            argv = rest[1:]  # after the service's name
        elif Path(argv[0]).name.startswith("python") and argv[1:3] == ["-m", "vigil"]:
            argv = ["vigil", *argv[3:]]
        else:
            return argv
    return argv


def shell_commands(script: str, source: str) -> list[CommandLine]:
    """The simple commands of a shell script (split on && || ; | &), `sh -c` scripts included."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lines: list[CommandLine] = []
    current: list[str] = []
    for token in [*lexer, ";"]:
        if token in {"&&", "||", ";", "|", "&", ";;"}:
            argv = _strip_prefixes(current)
            if argv:
                lines.extend(_exec_form(argv, source))
            current = []
        else:
            current.append(token)
    return lines


def _exec_form(argv: list[str], source: str) -> list[CommandLine]:
    if Path(argv[0]).name in SHELLS and argv[1:2] == ["-c"] and len(argv) > 2:
        return shell_commands(argv[2], source)
    return [CommandLine(source, tuple(argv))]


# ------------------------------------------------------------------ Dockerfile
def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                key, sep, value = pair.partition("=")
                assert sep, f"Dockerfile: ENV {pair} (use KEY=value)"
                env[key] = value
    return env


def _docker_command(arguments: str, source: str) -> list[CommandLine]:
    """A RUN/CMD/ENTRYPOINT argument list: exec form (JSON array) or shell form."""
    if arguments.startswith("["):
        return _exec_form(list(json.loads(arguments)), source)
    return shell_commands(arguments, source)


def healthcheck_command(arguments: str) -> str:
    """The command of `HEALTHCHECK [--option=value...] CMD command`."""
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(.*)", arguments, flags=re.S)
    assert match, f"HEALTHCHECK without CMD: {arguments}"
    return match.group(1)


def dockerfile_commands() -> list[CommandLine]:
    lines: list[CommandLine] = []
    for keyword, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword in ("RUN", "CMD", "ENTRYPOINT"):
            lines += _docker_command(arguments, f"Dockerfile {keyword}")
        elif keyword == "HEALTHCHECK":
            lines += _docker_command(healthcheck_command(arguments), "Dockerfile HEALTHCHECK")
    return lines


# ------------------------------------------------------------------ docker-compose.yml
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _unescape(value: str) -> str:
    return value.replace("$$", "$")  # compose's escape for a literal $


def compose_commands() -> list[CommandLine]:
    lines: list[CommandLine] = []
    for name, service in compose()["services"].items():
        command = service.get("command")
        source = f"docker-compose.yml {name}"
        if isinstance(command, list):
            lines += _exec_form([_unescape(str(word)) for word in command], source)
        elif isinstance(command, str):
            lines += shell_commands(_unescape(command), source)
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test[:1] == ["CMD"]:
            lines.append(CommandLine(f"{source} healthcheck", tuple(_unescape(w) for w in test[1:])))
        elif isinstance(test, list) and test[:1] == ["CMD-SHELL"]:
            lines += shell_commands(_unescape(test[1]), f"{source} healthcheck")
    return lines


def vigil_services() -> dict[str, dict[str, Any]]:
    """The services that run the Vigil image."""
    return {n: s for n, s in compose()["services"].items() if s.get("image", "").startswith("vigil")}


# ------------------------------------------------------------------ env files
def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as both systemd (EnvironmentFile=) and docker compose (env_file) read them.

    Only what the two read alike is accepted: a value is bare or wholly in single or double quotes;
    quotes inside a bare value (systemd strips them, compose v1 keeps them) and inline comments
    (systemd keeps them in the value) are refused."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        where = f"{path.name}:{number}"
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            raise DeployFileError(f"{where}: not a KEY=value line: {line!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif "'" in value or '"' in value:
            raise DeployFileError(f"{where}: quotes inside a bare value; put the value in single quotes")
        elif " #" in value:
            raise DeployFileError(f"{where}: an inline comment would be part of the value")
        env[key] = value
    return env


def env_examples() -> dict[str, dict[str, str]]:
    examples = sorted((ROOT / "deploy").glob("*.env.example"))
    assert examples, "no deploy/*.env.example"
    return {path.name: read_env_file(path) for path in examples}


def example_of(path: str) -> Path:
    """The committed example of an env file the deployment reads (deploy/x.env, /etc/vigil/x.env)."""
    return ROOT / "deploy" / (Path(path).name + ".example")


# ------------------------------------------------------------------ systemd units
def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, continuation lines joined."""
    entries: list[tuple[str, str, str]] = []
    section, pending = "", ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not Key=value"
        entries.append((section, key.strip(), value.strip()))
    return entries


def units() -> dict[str, list[tuple[str, str, str]]]:
    found = {path.name: unit_entries(path) for path in sorted(UNITS.glob("*.service"))}
    assert set(found) >= {"vigil.service", "vigil-ray-head.service", "vigil-ray-worker.service"}
    return found


def unit_value(entries: list[tuple[str, str, str]], key: str) -> list[str]:
    return [value for _, k, value in entries if k == key]


def unit_commands() -> list[CommandLine]:
    lines: list[CommandLine] = []
    for name, entries in units().items():
        env: dict[str, str] = {}
        for env_file in unit_value(entries, "EnvironmentFile"):
            env |= read_env_file(example_of(env_file.lstrip("-")))
        for key in ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop"):
            for value in unit_value(entries, key):
                argv = shlex.split(value.lstrip("-@:+!"))
                source = f"{name} {key}"
                lines.append(CommandLine(source, tuple(expand(word, env, source) for word in argv)))
    return lines


# ------------------------------------------------------------------ docs/deploy.md
def doc_commands() -> list[CommandLine]:
    """Commands in the bash/sh code blocks of docs/deploy.md (with `\\` continuations joined)."""
    text = DEPLOY_DOC.read_text()
    lines: list[CommandLine] = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S):
        script = re.sub(r"\\\n\s*", " ", block)
        for number, line in enumerate(script.splitlines(), 1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                lines += shell_commands(stripped, f"docs/deploy.md block line {number}")
    return lines


def all_commands() -> list[CommandLine]:
    return [*dockerfile_commands(), *compose_commands(), *unit_commands(), *doc_commands()]


# ------------------------------------------------------------------ checkers
def _rest(ctx: Context) -> list[str]:
    # A group's context keeps the sub-command's name apart from its arguments.
    return [*ctx._protected_args, *ctx.args]


def check_vigil(argv: tuple[str, ...]) -> Command:
    """The command `vigil ARGS` runs, parsed by the real CLI (UsageError when it would refuse)."""
    command = get_command(vigil_app)
    ctx = command.make_context("vigil", list(argv[1:]))
    while isinstance(command, TyperGroup):
        rest = _rest(ctx)
        if not rest:
            break
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, args, parent=ctx)
        command = sub
    return command


def makefile_targets_and_variables() -> tuple[set[str], set[str]]:
    text = MAKEFILE.read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.M))
    phony = re.search(r"^\.PHONY:(.*)$", text, flags=re.M)
    targets |= set(phony.group(1).split()) if phony else set()
    variables = set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*(?::=|\?=|=)", text, flags=re.M))
    return targets, variables


def check_make(argv: tuple[str, ...]) -> None:
    targets, variables = makefile_targets_and_variables()
    words = list(argv[1:])
    while words[:1] == ["-C"]:  # make -C DIR: the checkout's Makefile
        words = words[2:]
    for word in words:
        if word.startswith("-"):
            raise DeployFileError(f"make {word}: the files call make with targets and VAR=value only")
        name, sep, _ = word.partition("=")
        if sep and name not in variables:
            raise DeployFileError(f"make: {name} is not a variable of the Makefile")
        if not sep and word not in targets:
            raise DeployFileError(f"make: no target {word!r} in the Makefile")


def _annotation_models(annotation: Any) -> list[Any]:
    """The models (or a dict's value type, wrapped) a settings annotation can hold."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _annotation_models(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _annotation_models(arg)]
    if origin is dict:
        return [("dict", typing.get_args(annotation)[1])]
    if isinstance(annotation, type) and issubclass(annotation, DetectorConfigBase):
        return list(detector_configs().values())  # typed by `type`: any engine's keys
    if isinstance(annotation, type) and issubclass(annotation, EmbedderConfigBase):
        return list(embedder_configs().values())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def setting_path(name: str) -> str:
    """The settings field `VIGIL_A__B` names (`a.b`), or DeployFileError."""
    if not name.startswith("VIGIL_"):
        raise DeployFileError(f"{name} is not a VIGIL_ variable")
    parts = name.removeprefix("VIGIL_").lower().split("__")
    holders: list[Any] = [VigilSettings]
    for index, part in enumerate(parts):
        annotations = []
        for holder in holders:
            if isinstance(holder, tuple):  # a dict: any key, then its value type
                annotations.append(holder[1])
            elif part in holder.model_fields:
                annotations.append(holder.model_fields[part].annotation)
        if not annotations:
            raise DeployFileError(f"{name}: no setting {'.'.join(parts[: index + 1])}")
        holders = [m for annotation in annotations for m in _annotation_models(annotation)]
        if index < len(parts) - 1 and not holders:
            raise DeployFileError(f"{name}: {'.'.join(parts[: index + 1])} has no sub-settings")
    return ".".join(parts)


def check_variable(name: str) -> None:
    if name.startswith("VIGIL_"):
        setting_path(name)
    elif name not in FOREIGN_VARIABLES:
        raise DeployFileError(f"{name} is neither a Vigil setting nor a known variable of another program")


def check_ray(argv: tuple[str, ...]) -> None:
    """`ray ...` parsed by Ray's own click CLI (when Ray is installed)."""
    scripts = pytest.importorskip("ray.scripts.scripts")
    command = scripts.cli
    ctx = command.make_context("ray", list(argv[1:]))
    while hasattr(command, "resolve_command"):
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
        rest = [*protected, *ctx.args]
        if not rest:
            break
        name, command, args = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, args, parent=ctx)


def health_paths() -> list[str]:
    """URL paths the files' health checks probe."""
    probes = [line for line in all_commands() if line.program in ("curl", "wget")]
    urls = [word for line in probes for word in line.argv]
    return [path for url in urls for path in re.findall(r"https?://[^/]+(/\S*)", url)]
