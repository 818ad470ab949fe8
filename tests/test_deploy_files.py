"""The deployment files (Dockerfile, docker-compose.yml, deploy/, docs/deploy.md) against the code.

Docker and systemd cannot run here, so the files are parsed and what they use is checked against
the real thing: every `vigil ...` command line is parsed by the CLI's own click commands (an
unknown command or option, or a value of the wrong type, is refused as `vigil` would refuse it),
every `VIGIL_*` variable must name a field of the settings model (sections nested with `__`) and
the model must accept the values, the Makefile targets and variables they call must exist, and the
health route they probe must answer in the FastAPI app. Each checker is also shown a made-up
option, variable, target or route, which it must refuse."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer._click.exceptions import UsageError

from tests.deploy_util import (
    COMPOSE,
    DOCKERFILE,
    FOREIGN_VARIABLES,
    MAKEFILE,
    ROOT,
    UNITS,
    CommandLine,
    DeployFileError,
    all_commands,
    check_make,
    check_ray,
    check_variable,
    check_vigil,
    compose,
    compose_commands,
    dockerfile_env,
    dockerfile_instructions,
    env_examples,
    example_of,
    expand,
    health_paths,
    read_env_file,
    setting_path,
    unit_commands,
    unit_value,
    units,
    vigil_services,
)
from tests.ray_cluster import OBJECT_STORE_BYTES, RAY, RayCluster, free_port
from vigil.cluster.config import ClusterNeedsPostgres, check_cluster_store
from vigil.config import load_settings
from vigil.store.database import parse_url
from vigil.web.app import create_web_app


# ------------------------------------------------------------------ tests: commands
def test_every_file_runs_commands_the_checker_sees() -> None:
    """The collectors are not vacuous: each file's main commands are found."""
    sources = {
        (line.source.split(" ")[0], line.program, line.argv[1] if len(line.argv) > 1 else "")
        for line in all_commands()
    }
    assert ("Dockerfile", "vigil", "serve") in sources
    assert ("Dockerfile", "make", "models") in sources
    assert ("docker-compose.yml", "vigil", "serve") in sources
    assert ("docker-compose.yml", "ray", "start") in sources
    assert ("vigil.service", "vigil", "serve") in sources
    assert ("vigil-ray-head.service", "ray", "start") in sources
    assert ("vigil-ray-worker.service", "ray", "start") in sources
    assert any(source == "docs/deploy.md" and program == "vigil" for source, program, _ in sources)


def test_vigil_command_lines_exist_in_the_cli() -> None:
    lines = [line for line in all_commands() if line.program == "vigil"]
    assert lines
    for line in lines:
        try:
            check_vigil(line.argv)
        except UsageError as exc:
            refused = f"`{shlex.join(line.argv)}` is refused by the CLI"
            pytest.fail(f"{line.source}: {refused}: {exc.format_message()}")


@pytest.mark.parametrize(
    "argv",
    [
        ("vigil", "serve", "--no-such-option"),
        ("vigil", "servez"),
        ("vigil", "serve", "--port", "eighty"),
        ("vigil", "models", "fetch", "yunet", "--mirror", "file:///x"),
        ("vigil", "jobs", "list", "--state", "running"),
        ("vigil", "track", "a.mp4", "--engines", "yunet"),
    ],
)
def test_the_cli_checker_refuses_made_up_lines(argv: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        check_vigil(argv)


def test_the_cli_checker_follows_default_sub_commands() -> None:
    """`vigil track PATH` is `vigil track run PATH` (the group's default command)."""
    assert check_vigil(("vigil", "track", "a.mp4", "--workers", "2")).name == "run"
    assert check_vigil(("vigil", "models", "status")).name == "status"


def test_make_targets_and_variables_exist() -> None:
    lines = [line for line in all_commands() if line.program == "make"]
    assert lines
    for line in lines:
        check_make(line.argv)


@pytest.mark.parametrize("argv", [("make", "modelz"), ("make", "models", "VENVS=/opt/x"), ("make", "-k")])
def test_the_make_checker_refuses_made_up_targets(argv: tuple[str, ...]) -> None:
    with pytest.raises(DeployFileError):
        check_make(argv)


def test_the_images_make_models_does_not_rerun_setup(tmp_path: Path) -> None:
    """The Dockerfile touches the venv's stamp and runs `make models VENV=...`: make must then go
    straight to the model recipe (a dry run), not reinstall the dev requirements."""
    run = next(
        args
        for keyword, args in dockerfile_instructions(DOCKERFILE.read_text())
        if keyword == "RUN" and "make models" in args
    )
    venv = re.search(r"make models VENV=(\S+)", run)
    assert venv and f"touch {venv.group(1)}/.installed" in run
    (tmp_path / ".installed").touch()
    dry = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "models", f"VENV={tmp_path}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert f"{tmp_path}/bin/vigil models fetch" in dry.stdout
    assert "pip install" not in dry.stdout and "-m venv" not in dry.stdout


def test_ray_command_lines_exist_in_rays_cli() -> None:
    lines = [line for line in all_commands() if line.program == "ray"]
    assert lines
    for line in lines:
        try:
            check_ray(line.argv)
        except Exception as exc:  # click's UsageError of Ray's own click
            if type(exc).__name__ in ("UsageError", "NoSuchOption", "BadParameter", "BadOptionUsage"):
                pytest.fail(f"{line.source}: `{shlex.join(line.argv)}` is refused by ray: {exc}")
            raise


# ------------------------------------------------------------------ tests: settings
def _file_variables() -> dict[str, dict[str, str]]:
    """Every variable the files set, by file."""
    found = {"Dockerfile": dockerfile_env(), **env_examples()}
    for name, service in compose()["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        found[f"docker-compose.yml {name}"] = {k: str(v) for k, v in environment.items()}
    return found


def test_every_variable_is_a_setting_or_known() -> None:
    variables = {name for env in _file_variables().values() for name in env}
    assert {"VIGIL_STORE__URL", "VIGIL_DATA_DIR", "VIGIL_WEB__HOST"} <= variables
    for name in sorted(variables):
        check_variable(name)
    unused = set(FOREIGN_VARIABLES) - variables
    assert not unused, f"FOREIGN_VARIABLES lists variables no file sets: {unused}"


@pytest.mark.parametrize(
    "name",
    ["VIGIL_WEB__PORTT", "VIGIL_NOT_A_SETTING", "VIGIL_STORES__URL", "VIGIL_WEB__HOST__X", "RAY_ADRESS"],
)
def test_the_variable_checker_refuses_made_up_names(name: str) -> None:
    with pytest.raises(DeployFileError):
        check_variable(name)


def test_settings_ignore_unknown_top_level_names_so_the_checker_must_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why setting_path exists: pydantic-settings drops an unknown VIGIL_ name without a word."""
    monkeypatch.setenv("VIGIL_NOT_A_SETTING", "1")
    load_settings()
    with pytest.raises(DeployFileError):
        setting_path("VIGIL_NOT_A_SETTING")


def test_typed_sections_accept_their_engines_keys() -> None:
    assert setting_path("VIGIL_DETECTOR__TYPE") == "detector.type"
    assert setting_path("VIGIL_JOBS__MAX_ACTIVE") == "jobs.max_active"
    assert setting_path("VIGIL_STORE") == "store"  # a whole section, as JSON
    door = "VIGIL_WATCHLIST__CAMERA_THRESHOLDS__DOOR__SIMILARITY_THRESHOLD"
    assert setting_path(door) == "watchlist.camera_thresholds.door.similarity_threshold"
    with pytest.raises(DeployFileError):
        setting_path("VIGIL_WATCHLIST__CAMERA_THRESHOLDS__DOOR__MATCH")


def _deployment_envs() -> dict[str, dict[str, str]]:
    """What each deployment's server sees: the image's ENV under compose's env file, or the
    systemd EnvironmentFile alone."""
    image = dockerfile_env()
    envs = {}
    for name, service in vigil_services().items():
        env = dict(image)
        for env_file in service.get("env_file", []):
            env |= read_env_file(example_of(env_file))
        envs[f"compose {name}"] = env
    for name, entries in units().items():
        env = {}
        for env_file in unit_value(entries, "EnvironmentFile"):
            env |= read_env_file(example_of(env_file.lstrip("-")))
        envs[name] = env
    return envs


@pytest.mark.parametrize("deployment", sorted(_deployment_envs()))
def test_settings_accept_every_value_the_files_set(deployment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _deployment_envs()[deployment]
    for name, value in env.items():
        if name.startswith("VIGIL_"):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert str(settings.data_dir) == env["VIGIL_DATA_DIR"]
    if "VIGIL_STORE__URL" in env:  # PostgreSQL, with the password outside the URL (libpq, peer)
        url, backend = parse_url(settings.resolved_db_url)
        assert backend == "postgresql" and url.password is None and url.username == "vigil"
    media = env.get("VIGIL_CAMERA_POLICY__MEDIA_ROOTS")
    if media is not None:
        assert [str(p) for p in settings.camera_policy.media_roots or []] == json.loads(media)


@pytest.mark.parametrize("deployment", sorted(_deployment_envs()))
def test_the_store_is_one_every_node_reaches(deployment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cameras on Ray need a PostgreSQL store on the network (not a socket or SQLite): the files'
    store passes the server's own cluster check, and turning cluster mode on is one variable."""
    env = _deployment_envs()[deployment]
    if "VIGIL_STORE__URL" not in env:
        pytest.skip(f"{deployment} sets no store")
    url, _ = parse_url(env["VIGIL_STORE__URL"])
    assert url.host and url.port == 5432 and "host" not in url.query
    check_cluster_store(env["VIGIL_STORE__URL"])
    with pytest.raises(ClusterNeedsPostgres):  # what the check refuses
        check_cluster_store("sqlite:///srv/vigil/data/vigil.db")
    assert "VIGIL_CLUSTER__RAY_ADDRESS" in env
    for name, value in env.items():
        if name.startswith("VIGIL_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("VIGIL_CLUSTER__RAY_ADDRESS", "auto")
    assert load_settings().cluster.enabled


@pytest.mark.parametrize("deployment", sorted(_deployment_envs()))
def test_every_ray_node_and_the_server_share_the_token(deployment: str) -> None:
    """Ray 2.60 turns token authentication on for a new head: a node or driver without the token
    cannot join (seen: `ray status` refused with InvalidAuthToken)."""
    env = _deployment_envs()[deployment]
    assert env.get("RAY_AUTH_MODE") == "token", deployment
    assert "RAY_AUTH_TOKEN" in env or env.get("RAY_AUTH_TOKEN_PATH", "").startswith("/etc/vigil/")


def test_the_env_reader_refuses_what_systemd_and_compose_read_differently(tmp_path: Path) -> None:
    for line in ('VIGIL_CAMERA_POLICY__MEDIA_ROOTS=["/srv"]', "VIGIL_WEB__PORT=8000 # the port", "bad line"):
        path = tmp_path / "x.env"
        path.write_text(line + "\n")
        with pytest.raises(DeployFileError):
            read_env_file(path)
    path.write_text("VIGIL_CAMERA_POLICY__MEDIA_ROOTS='[\"/srv\"]'\n")
    assert read_env_file(path) == {"VIGIL_CAMERA_POLICY__MEDIA_ROOTS": '["/srv"]'}


def test_variables_the_units_use_are_defined() -> None:
    with pytest.raises(DeployFileError):
        expand("--node-ip-address=${RAY_NODE_IPP}", {"RAY_NODE_IP": "10.0.0.1"}, "test")
    assert unit_commands()  # expands every ${...} of every ExecStart from the env example


# ------------------------------------------------------------------ tests: the server
def _remapped(env: dict[str, str], root: Path) -> dict[str, str]:
    """The deployment's paths moved under `root` (this box has no /srv/vigil)."""
    return {k: v.replace("/srv/vigil", str(root / "srv" / "vigil")) for k, v in env.items()}


def test_the_health_route_the_files_probe_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = health_paths()
    assert paths, "no health check probes an HTTP route"
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    app = create_web_app(load_settings(web={"start_cameras": False}))
    routes = {getattr(route, "path", "") for route in app.routes}
    assert "/api/healthz" not in routes  # the negative case: a made-up probe would be caught
    with TestClient(app) as client:
        for path in paths:
            assert path in routes, f"the health check probes {path}, which the app does not serve"
            response = client.get(path)  # without authentication, as Docker probes it
            assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("deployment", ["compose vigil", "vigil.service"])
def test_the_server_starts_with_the_files_settings(
    deployment: str, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server takes every setting the deployment gives it (paths moved here, the store on a
    real PostgreSQL with pgvector): migrations, secrets, scheduler, then the health route."""
    env = _remapped(_deployment_envs()[deployment], tmp_path)
    env["VIGIL_STORE__URL"] = pg_url
    env["VIGIL_CLUSTER__RAY_ADDRESS"] = ""  # cameras stay here: no Ray cluster in this test
    for name, value in env.items():
        if name.startswith("VIGIL_"):
            monkeypatch.setenv(name, value)
    for folder in ("data", "media"):
        (tmp_path / "srv" / "vigil" / folder).mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    assert settings.resolved_db_url == pg_url
    with TestClient(create_web_app(settings)) as client:
        assert client.get("/api/health").status_code == 200
    assert (tmp_path / "srv" / "vigil" / "data" / "secret_key").is_file()  # empty key: generated


# ------------------------------------------------------------------ tests: file shapes
def test_dockerfile_builds_as_make_setup_does_without_shared_files() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    make_setup = re.search(r"^\$\(STAMP\):.*?\n\n", MAKEFILE.read_text(), flags=re.M | re.S)
    assert make_setup
    # The same pip steps as `make setup`, minus requirements-dev.txt (tests and linters).
    for step in re.findall(r"\$\(BIN\)/pip install (.*)", make_setup.group(0)):
        step = step.replace("--quiet ", "").replace(" -r requirements-dev.txt", "")
        assert f"pip install --quiet {step}" in runs, f"the Dockerfile lacks `pip install {step}`"
    copies = [args for keyword, args in instructions if keyword in ("COPY", "ADD")]
    assert not any("shared" in args or "models" in args for args in copies), "models are fetched, not copied"
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    last_user = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "USER")
    assert not any(keyword == "RUN" for keyword, _ in instructions[last_user:])
    assert any(keyword == "HEALTHCHECK" for keyword, _ in instructions)


def test_dockerignore_keeps_the_context_to_what_the_image_copies() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        word.rstrip("/")
        for keyword, args in dockerfile_instructions(DOCKERFILE.read_text())
        if keyword == "COPY"
        for word in args.split()[:-1]
    }
    assert copied <= allowed, f"copied but ignored: {copied - allowed}"


def test_compose_runs_postgres_a_ray_head_a_worker_and_the_server() -> None:
    services = compose()["services"]
    assert services["db"]["image"] == "pgvector/pgvector:pg16"
    vigil = vigil_services()
    assert set(vigil) == {"ray-head", "ray-worker", "vigil"}
    assert len({s["image"] for s in vigil.values()}) == 1 and all(s.get("build") for s in vigil.values())
    # Every node mounts the data and media volumes at the same path.
    mounts = {name: sorted(service["volumes"]) for name, service in vigil.items()}
    assert len({tuple(m) for m in mounts.values()}) == 1, mounts
    assert {m.split(":")[1] for m in mounts["vigil"]} >= {"/srv/vigil/data", "/srv/vigil/media"}
    head = next(line for line in compose_commands() if line.source.endswith("ray-head"))
    port = next(w.split("=")[1] for w in head.argv if w.startswith("--port="))
    for name in ("ray-worker", "vigil"):
        joins = [line for line in compose_commands() if line.source.endswith(name) and line.program == "ray"]
        assert joins and f"--address=ray-head:{port}" in joins[0].argv


def test_secrets_come_from_env_files_not_inline() -> None:
    text = COMPOSE.read_text() + "".join(p.read_text() for p in UNITS.glob("*.service"))
    for service in compose()["services"].values():
        assert not service.get("environment"), "settings go in the env file"
        for env_file in service.get("env_file", []):
            assert example_of(env_file).is_file(), f"{env_file} has no committed example"
    ignored = (ROOT / "deploy" / ".gitignore").read_text().split()
    assert "*.env" in ignored, "the filled-in env files stay out of git"
    assert not re.search(r"(PASSWORD|SECRET|TOKEN)\w*\s*[:=]\s*\S", text), "a secret is written inline"
    for env in env_examples().values():
        for name, value in env.items():
            if re.search(r"PASSWORD|SECRET|_TOKEN$", name):
                assert value == "", f"{name}: the example leaves secrets empty (no weak default)"


def test_units_read_the_env_file_and_run_the_venvs_programs() -> None:
    for name, entries in units().items():
        assert unit_value(entries, "EnvironmentFile") == ["/etc/vigil/vigil.env"], name
        assert unit_value(entries, "User") == ["vigil"], name
        for start in unit_value(entries, "ExecStart"):
            assert start.startswith("/opt/vigil/src/.venv/bin/"), f"{name}: {start}"
    worker = next(line for line in unit_commands() if line.source.startswith("vigil-ray-worker"))
    example = read_env_file(example_of("/etc/vigil/vigil.env"))
    assert f"--address={example['RAY_ADDRESS']}" in worker.argv
    assert example["RAY_ADDRESS"].endswith(":6379")
    head = next(line for line in unit_commands() if line.source.startswith("vigil-ray-head"))
    assert "--port=6379" in head.argv


def test_readme_links_the_deploy_doc() -> None:
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()


# ------------------------------------------------------------------ tests: the Ray lines run
def _runnable(line: CommandLine, ports: dict[str, str], temp: Path) -> list[str]:
    """A unit's or compose's `ray start` line as it can run on this box beside other clusters:
    its fixed ports replaced by free ones, this machine's loopback for the LAN addresses and the
    head's name, one CPU, a small object store; the head gets its own temp folder."""
    argv = [str(RAY)]
    for word in line.argv[1:]:
        name, _, value = word.partition("=")
        if name in ("--min-worker-port", "--max-worker-port"):
            value = ports[name]
        elif name.endswith("-port") or name == "--port":
            value = ports["--port"] if name == "--port" else str(free_port())
        elif name == "--address":
            value = f"127.0.0.1:{ports['--port']}"
        elif name == "--node-ip-address":
            value = "127.0.0.1"
        elif name == "--num-cpus" and value != "0":
            value = "1"
        argv.append(f"{name}={value}" if value else word)
    if "--head" in argv:
        argv.append(f"--temp-dir={temp}")
    return [*argv, f"--object-store-memory={OBJECT_STORE_BYTES}"]


@pytest.mark.slow
def test_the_ray_start_lines_make_a_cluster_with_the_token(tmp_path: Path) -> None:
    """The units' head and worker lines and compose's 0-CPU server node, run for real (ports
    remapped): three nodes join the head with the token of the env files' RAY_AUTH_* variables,
    and `ray status` sees them; without the token it is refused."""
    lines = {
        line.source.split(" ")[1] if line.source.startswith("docker") else line.source.split(" ")[0]: line
        for line in all_commands()
        if line.program == "ray" and line.argv[1:2] == ("start",)
    }
    temp = Path(tempfile.mkdtemp(prefix="dp", dir="/tmp"))  # short: Ray's socket paths
    token = secrets.token_hex(32)
    token_file = tmp_path / "ray_auth_token"
    token_file.write_text(token + "\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {
        "RAY_USAGE_STATS_ENABLED": "0"
    }
    unit_env = base | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}  # as systemd's
    compose_env = base | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}  # as compose.env's
    cluster = RayCluster(temp, free_port(), unit_env)
    ports = {"--port": str(cluster.port)}
    blocking: list[subprocess.Popen[bytes]] = []

    def status(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        address = f"--address=127.0.0.1:{cluster.port}"
        return subprocess.run(
            [str(RAY), "status", address], env=env, capture_output=True, text=True, timeout=60
        )

    def wait_for_nodes(count: int) -> str:
        deadline = time.monotonic() + 90
        while True:
            done = status(unit_env)
            if done.returncode == 0 and len(re.findall(r"^ 1 node_", done.stdout, flags=re.M)) >= count:
                return done.stdout
            assert all(p.poll() is None for p in blocking), "a `ray start --block` exited"
            assert time.monotonic() < deadline, f"{count} nodes never joined: {done.stdout}{done.stderr}"
            time.sleep(1)

    try:
        ports |= {"--min-worker-port": "20002", "--max-worker-port": "20199"}
        head = _runnable(lines["vigil-ray-head.service"], ports, temp)
        blocking.append(
            subprocess.Popen(head, env=unit_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        wait_for_nodes(1)
        ports |= {"--min-worker-port": "20202", "--max-worker-port": "20399"}
        worker = _runnable(lines["vigil-ray-worker.service"], ports, temp)
        blocking.append(
            subprocess.Popen(worker, env=unit_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        wait_for_nodes(2)
        server_node = _runnable(lines["vigil"], ports, temp)  # compose: the server joins, 0 CPUs
        subprocess.run(server_node, env=compose_env, capture_output=True, check=True, timeout=120)
        report = wait_for_nodes(3)
        assert re.search(r"0\.0/2\.0 CPU", report), report  # the server's node adds none
        refused = status(base | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64})
        assert refused.returncode != 0 and "auth" in (refused.stdout + refused.stderr).lower()
    finally:
        for process in blocking:
            process.terminate()
        for process in blocking:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        cluster.stop()
    assert not cluster.own_processes()


def _systemd_verify(units_dir: Path) -> str:
    """systemd's own reading of the units (what it ignores or refuses, on stderr)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    files = sorted(str(path) for path in units_dir.glob("*.service"))
    done = subprocess.run(
        [analyze, "verify", *files], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stderr.strip()


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the units, their programs pointed at this checkout's venv (it
    checks that ExecStart's program exists): no unknown key, no value it would ignore."""
    venv_bin = Path(sys.executable).parent
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/vigil/src/.venv/bin/", f"{venv_bin}/")
        (tmp_path / unit.name).write_text(text)
    assert _systemd_verify(tmp_path) == ""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "vigil.service").write_text(text.replace("Restart=", "Restarts="))
    assert "Unknown key" in _systemd_verify(bad)  # what the check catches
