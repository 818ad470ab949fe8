"""All settings, validated by pydantic-settings.

Sources, highest priority first: explicit keyword arguments (CLI flags), environment
(`VIGIL_*`, nested with `__`, plus seed 004's bare names as aliases), a `.env` file,
then an optional YAML file (`--config` or `VIGIL_CONFIG_FILE`), then defaults.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from vigil.activity.settings import ActivitySettings, AudioSource
from vigil.anonymize.settings import AnonymizeSettings
from vigil.batch.settings import BatchSettings
from vigil.cluster.config import ClusterConfig
from vigil.detect.base import DetectorConfigBase
from vigil.detect.registry import parse_detector_config
from vigil.detect.yunet import YuNetConfig
from vigil.embed.base import EmbedderConfigBase
from vigil.embed.dlib_onnx import DlibOnnxConfig
from vigil.embed.registry import parse_embedder_config
from vigil.errors import ConfigError
from vigil.jobs.config import JobsConfig
from vigil.live.tracking_config import TrackerConfig
from vigil.paths import user_models_dir
from vigil.settings_sources import YAML_FILE, SectionAliasSource
from vigil.watchlist.config import WatchlistConfig

Point = tuple[float, float]
Polygon = Annotated[list[Point], Field(min_length=3, description="Polygon vertices in pixels")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- stages
class MotionConfig(_Strict):
    enabled: bool = Field(True, description="Skip detection on frames where nothing moves")
    width: int = Field(160, ge=32, le=640, description="Width of the grey frame compared")
    pixel_threshold: int = Field(
        18, ge=1, le=255, description="Grey-level change that counts a pixel as moving"
    )
    area_threshold: float = Field(
        0.002, ge=0.0, le=1.0, description="Fraction of moving pixels that counts as motion"
    )
    force_every_s: float = Field(
        3.0, ge=0.0, le=3600, description="Run detection at least this often (0: never force)"
    )


class QualityConfig(_Strict):
    good_face_px: float = Field(112, ge=8, le=2000, description="Face side (px) at which the size score is 1")
    min_face_px: float = Field(16, ge=0, le=2000, description="Face side (px) scoring 0 for size")
    sharpness_scale: float = Field(
        60.0, gt=0, le=10000, description="Laplacian variance at which sharpness scores 0.5"
    )


class GatingConfig(_Strict):
    min_quality: float = Field(
        0.45, ge=0.0, le=1.0, description="Quality at which a track's first embedding goes at once"
    )
    first_wait_s: float = Field(
        0.3,
        ge=0.0,
        le=60.0,
        description="A track below min_quality this long gets its first embedding from its next face of "
        "at least first_min_quality (every track gets a chance)",
    )
    first_min_quality: float = Field(
        0.25, ge=0.0, le=1.0, description="Least quality of a first embedding after first_wait_s"
    )
    improvement_margin: float = Field(
        0.1, ge=0.0, le=1.0, description="Re-embed when quality beats the best embedded by this"
    )
    refresh_s: float = Field(
        1.0,
        ge=0.0,
        le=3600.0,
        description="Re-embed this long after the last embedding with a face of at least min_quality at most "
        "improvement_margin below the best embedded (more faces for the watchlist's decision); 0: never",
    )
    max_embeddings: int = Field(5, ge=1, le=100, description="Embeddings per track at most")


class RuntimeConfig(_Strict):
    frame_queue: int = Field(2, ge=1, le=1000, description="Decoded frames buffered per camera")
    embed_queue: int = Field(8, ge=1, le=1000, description="Faces waiting for embedding per camera")
    embed_processes: int = Field(
        1,
        ge=0,
        le=64,
        description="Child processes that compute embeddings (0: in-process; dlib then holds the GIL)",
    )
    skip_nonref_frames: bool = Field(
        True,
        description="Skip decoding non-reference frames when the stream has at least twice the "
        "analysis rate (halves 1080p decode CPU on B-frame streams)",
    )
    decode_threads: int = Field(0, ge=0, le=64, description="FFmpeg threads per stream (0: auto)")
    opencv_threads: int = Field(
        1, ge=0, le=64, description="OpenCV threads (1 suits many cameras; 0: OpenCV default)"
    )
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="Timeout to open a stream")
    read_timeout_s: float = Field(10.0, gt=0, le=600, description="Timeout for a stalled stream")
    max_backoff_s: float = Field(60.0, gt=0, le=3600, description="Longest wait between retries")


class CameraConfig(_Strict):
    url: str = Field(
        min_length=1,
        description="File path, rtsp://, http(s):// (MJPEG or video), rtmp:// (?listen=1: OBS "
        "publishes to it), /dev/videoN or usb:N",
    )
    name: str | None = Field(None, description="Camera id in events; default derived from url")
    fps: float | None = Field(None, gt=0, le=120, description="Analysis rate; default analysis_fps")
    dead_zones: list[Polygon] = Field(
        default_factory=list, description="Polygons where faces are never searched"
    )
    motion_mask: list[Polygon] = Field(
        default_factory=list, description="Extra polygons where motion is ignored"
    )
    loop: bool = Field(False, description="Restart a file source at its end (simulated camera)")
    activity: bool = Field(
        False, description="Analyse what the person is doing (the `activity:` settings; docs/activity.md)"
    )
    activity_audio: AudioSource | None = Field(
        None,
        description="Sound of this camera's activity: stream, microphone or none; default "
        "`activity.live_audio`",
    )


CameraScheme = Literal["rtsp", "rtsps", "http", "https", "rtmp", "rtmps", "usb", "file"]


class CameraPolicyConfig(_Strict):
    """What a camera added at run time (API/UI) may point at; configured cameras are trusted."""

    allowed_schemes: list[CameraScheme] = Field(
        default_factory=lambda: list(get_args(CameraScheme)),
        description="URL kinds a camera added in the UI/API may use (usb: usb:N and /dev/videoN; "
        "file: a path or file://)",
    )
    media_roots: list[Path] | None = Field(
        None,
        description="Directories whose video files may become cameras added in the UI/API "
        "(symlinks resolved); default [<data_dir>/media]; [] refuses every file",
    )
    allow_loopback: bool = Field(
        False, description="Let UI/API cameras reach this machine (127.0.0.0/8, ::1, localhost)"
    )
    allow_link_local: bool = Field(
        False, description="Let UI/API cameras reach link-local hosts (169.254.0.0/16, fe80::/10)"
    )


class StoreConfig(_Strict):
    url: str | None = Field(
        None,
        min_length=1,
        description="Database URL: sqlite:///path.db (embedded, WAL) or postgresql://… (pgvector); "
        "default sqlite:///<data_dir>/vigil.db",
    )
    enabled: bool = Field(True, description="Store sightings and assign visitor identities")
    faces_dir: Path | None = Field(None, description="Face crops; default <data_dir>/faces")
    same_person_similarity: float = Field(
        0.91,
        ge=-1.0,
        le=1.0,
        description="Cosine similarity at or above which a face joins a visitor (see docs/identity.md)",
    )
    visit_gap_min: float = Field(
        30.0, gt=0, le=7 * 24 * 60, description="Sightings closer than this (minutes) form one visit"
    )
    crop_format: Literal["webp", "jpeg"] = Field("webp", description="Image format of face crops")
    crop_quality: int = Field(90, ge=1, le=100, description="Encoder quality of face crops")
    thumbnail_px: int = Field(96, ge=16, le=1024, description="Longest side of crop thumbnails")
    retention_days: float = Field(
        0.0, ge=0, le=36500, description="Delete sightings and crops older than this (0: keep forever)"
    )
    retention_keep_prototypes: bool = Field(
        True,
        description="Keep each visitor's prototype and reference photo after retention removes their "
        "sightings (False: such visitors are deleted entirely)",
    )
    exact_search_max: int = Field(
        200_000,
        ge=0,
        le=10_000_000,
        description="PostgreSQL: search a model's prototypes exactly in process while it has at most "
        "this many (memory: count x dimension x 4 bytes); above, pgvector HNSW. 0: always HNSW. "
        "SQLite always searches exactly",
    )
    orphan_grace_s: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="Crops without a database row older than this are deleted at start (crash leftovers)",
    )


def _proxy_address(entry: str) -> str:
    """An IP address or a CIDR network (parsed as uvicorn's ProxyHeadersMiddleware will: it would
    silently treat anything else as a literal host name that never matches)."""
    try:
        if "/" in entry:
            ipaddress.ip_network(entry)
        else:
            ipaddress.ip_address(entry)
    except ValueError as exc:
        example = "such as 10.0.0.5 or 10.0.0.0/24"
        raise ValueError(f"{entry!r} is not an IP address or CIDR network {example} ({exc})") from exc
    return entry


ProxyAddress = Annotated[str, AfterValidator(_proxy_address)]


class WebConfig(_Strict):
    """`vigil serve`: dashboard, REST API and security. Secrets come from env or files only."""

    host: str = Field("127.0.0.1", min_length=1, description="Address the server listens on")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the dashboard and API")
    secret_key: SecretStr | None = Field(
        None,
        description="Key signing sessions and image URLs (env VIGIL_WEB__SECRET_KEY); default: read from "
        "secret_key_file, else generated once into <data_dir>/secret_key (mode 600)",
    )
    secret_key_file: Path | None = Field(None, description="File holding the signing key")
    admin_user: str = Field("admin", min_length=1, max_length=64, description="First admin's login")
    admin_password: SecretStr | None = Field(
        None,
        description="First admin's password, used only when no user exists (env VIGIL_WEB__ADMIN_PASSWORD); "
        "default: admin_password_file, else generated into <data_dir>/admin_password (mode 600)",
    )
    admin_password_file: Path | None = Field(None, description="File holding the first admin's password")
    session_ttl_h: float = Field(12.0, gt=0, le=24 * 30, description="Login session lifetime (hours)")
    image_url_ttl_s: int = Field(300, ge=5, le=86400, description="Lifetime of signed image URLs (seconds)")
    rate_limit_per_min: int = Field(
        120, ge=1, le=100000, description="Mutating requests per minute per client (login included)"
    )
    max_body_kb: int = Field(
        1024, ge=1, le=1024 * 1024, description="Largest accepted request body (KiB); larger gets 413"
    )
    max_video_upload_mb: float = Field(
        2048.0,
        gt=0,
        le=1_000_000,
        description="Largest video upload of the web API, for anonymisation and activity (MiB); "
        "formerly anonymize.max_upload_mb (VIGIL_ANONYMIZE__MAX_UPLOAD_MB), still read",
    )
    cookie_secure: bool = Field(False, description="Send cookies only over HTTPS (set behind TLS)")
    trusted_proxies: list[ProxyAddress] = Field(
        default_factory=list,
        description="Reverse proxies (IPs or CIDR networks) whose X-Forwarded-For/-Proto headers are "
        "believed; from any other peer they are ignored (default: none)",
    )
    decisions_per_min: int = Field(
        30, ge=1, le=10000, description="Watchlist alert decisions per minute per user; then 429"
    )
    login_attempts_per_min: int = Field(
        10, ge=1, le=10000, description="Login attempts per minute per client IP; then 429"
    )
    login_free_failures: int = Field(
        5, ge=0, le=1000, description="Failed logins of one user name before each attempt must wait"
    )
    login_delay_base_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Wait (seconds) before the next attempt once the free failures are used; "
        "doubles with each further failure",
    )
    login_delay_max_s: float = Field(
        900.0, gt=0, le=86400, description="Longest wait between login attempts on one user name (seconds)"
    )
    login_failures_reset_h: float = Field(
        24.0, gt=0, le=24 * 365, description="A user name's failure count restarts after this quiet period"
    )
    language: Literal["en", "fr"] = Field("en", description="Default UI language (users can switch)")
    live_fps: float = Field(5.0, gt=0, le=30, description="Highest frame rate of the live MJPEG view")
    live_jpeg_quality: int = Field(70, ge=10, le=100, description="JPEG quality of live pictures")
    start_cameras: bool = Field(True, description="Start the camera workers with the server")
    camera_takeover_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="Every this many seconds: stop the cameras whose claim was lost with the database "
        "session, and start the enabled cameras another server of the database held, once it let them go "
        "(it stopped them or died); 0: never",
    )


def move_video_upload_limit(data: Any) -> Any:
    """Settings data with the former `anonymize.max_upload_mb` moved to `web.max_video_upload_mb`."""
    anonymize = data.get("anonymize") if isinstance(data, dict) else None
    if not isinstance(anonymize, dict) or "max_upload_mb" not in anonymize:
        return data
    anonymize = dict(anonymize)
    limit = anonymize.pop("max_upload_mb")
    web = data.get("web")
    if isinstance(web, BaseModel):
        if "max_video_upload_mb" not in web.model_fields_set:
            web = web.model_copy(update={"max_video_upload_mb": limit})
    else:
        web = {"max_video_upload_mb": limit, **(web or {})}
    return {**data, "anonymize": anonymize, "web": web}


def env_settings_config(prefix: str) -> SettingsConfigDict:
    """How env/.env are read: `VIGIL_` prefix, sections nested with `__`."""
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        # The .env file may hold seed aliases (STEP5_*, TRACKING_*), read by SeedAliasSource.
        dotenv_filtering="only_existing",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
        # Errors name the field and the rule, never the value: it may be a key or a password.
        hide_input_in_errors=True,
    )


def _alias(name: str, *seed_names: str) -> AliasChoices:
    return AliasChoices(name, f"vigil_{name}", *seed_names)


class VigilSettings(BaseSettings):
    model_config = env_settings_config("VIGIL_")

    shared_dir: Path = Field(
        Path("../shared"), description="Test media and models (tests and benchmarks only)"
    )
    data_dir: Path = Field(Path("data"), description="Where Vigil keeps its state")
    models_dir: Path | None = Field(
        None,
        description="Model files (`vigil models fetch` puts them here); default ~/.local/share/vigil/models "
        "($XDG_DATA_HOME/vigil/models). Also searched: <data_dir>/models, <shared_dir>/models",
    )
    analysis_fps: float = Field(5.0, gt=0, le=120, description="Frames analysed per second")
    realtime: bool = Field(True, description="Play files at their real pace (False: max speed)")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras to watch")
    camera_policy: CameraPolicyConfig = Field(
        default_factory=CameraPolicyConfig, description="What cameras added in the UI/API may reach"
    )
    cameras_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_alias("cameras_ips", "CAMERAS_IPS"),
        description="CSV of camera URLs (seed 004 CAMERAS_IPS)",
    )
    cameras_usb_max: int = Field(
        0,
        ge=0,
        le=64,
        validation_alias=_alias("cameras_usb_max", "CAMERAS_USB_MAX"),
        description="Scan USB cameras 0..N-1 (seed 004 CAMERAS_USB_MAX)",
    )
    retry_backoff: float = Field(
        2.0,
        gt=0,
        le=3600,
        validation_alias=_alias("retry_backoff", "RETRY_BACKOFF"),
        description="First reconnect delay in seconds, doubled per failure",
    )
    use_gpu: bool = Field(
        False,
        validation_alias=_alias("use_gpu", "USE_GPU"),
        description="Use a GPU execution provider when one is available",
    )
    detector: SerializeAsAny[DetectorConfigBase] = Field(
        default_factory=YuNetConfig, description="Face detector (`type` picks the engine)"
    )
    embedder: SerializeAsAny[EmbedderConfigBase] = Field(
        default_factory=DlibOnnxConfig, description="Face embedder (`type` picks the engine)"
    )
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion gate")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Face tracker")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="Face quality")
    gating: GatingConfig = Field(default_factory=GatingConfig, description="Recognition gating")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Threads and queues")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Identity store")
    web: WebConfig = Field(default_factory=WebConfig, description="Web dashboard and REST API")
    track: BatchSettings = Field(default_factory=BatchSettings, description="Batch tracking (`vigil track`)")
    jobs: JobsConfig = Field(default_factory=JobsConfig, description="Persistent jobs (batch tracking, ...)")
    cluster: ClusterConfig = Field(
        default_factory=ClusterConfig, description="Cameras of `vigil serve` as Ray actors on a cluster"
    )
    watchlist: WatchlistConfig = Field(
        default_factory=WatchlistConfig, description="Watchlist: enrolled people and alert thresholds"
    )
    anonymize: AnonymizeSettings = Field(
        default_factory=AnonymizeSettings, description="Anonymisation of faces and bodies (`vigil anonymize`)"
    )
    activity: ActivitySettings = Field(
        default_factory=ActivitySettings, description="Activity of a person (`vigil activity`)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first; pydantic-settings deep-merges them, so a section set in YAML keeps its
        # other keys when the environment sets one of them.
        yaml_file = YAML_FILE.get()
        sources = [
            init_settings,
            env_settings,
            dotenv_settings,
            SectionAliasSource(settings_cls, dotenv_settings),
        ]
        if yaml_file is not None:
            sources.append(
                YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file, yaml_file_encoding="utf-8")
            )
        return (*sources, file_secret_settings)

    @model_validator(mode="before")
    @classmethod
    def _video_upload_limit_moved(cls, data: Any) -> Any:
        """`anonymize.max_upload_mb` (YAML, VIGIL_ANONYMIZE__MAX_UPLOAD_MB) is now
        `web.max_video_upload_mb`: the uploads serve every page. The new name wins when both are set."""
        return move_video_upload_limit(data)

    @model_validator(mode="after")
    def _share_model_dirs(self) -> VigilSettings:
        self.track.set_search_dirs(self.model_search_dirs())
        return self

    @field_validator("detector", mode="before")
    @classmethod
    def _detector_of_its_type(cls, value: Any) -> Any:
        return parse_detector_config(value)

    @field_validator("embedder", mode="before")
    @classmethod
    def _embedder_of_its_type(cls, value: Any) -> Any:
        return parse_embedder_config(value)

    @field_validator("cameras_ips", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or user_models_dir()

    def model_search_dirs(self) -> list[Path]:
        """Where model files are looked up, first match wins: the models dir, <data_dir>/models
        (where earlier versions fetched them), then the shared test dir."""
        dirs = [self.resolved_models_dir, self.data_dir / "models", self.shared_dir / "models"]
        return list(dict.fromkeys(dirs))

    @property
    def resolved_db_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'vigil.db'}"

    @property
    def resolved_faces_dir(self) -> Path:
        return self.store.faces_dir or self.data_dir / "faces"

    def all_cameras(self) -> list[CameraConfig]:
        """Configured cameras plus CAMERAS_IPS and USB indexes 0..CAMERAS_USB_MAX-1."""
        cams = list(self.cameras)
        known = {c.url for c in cams}
        cams += [CameraConfig(url=u) for u in self.cameras_ips if u not in known]
        cams += [CameraConfig(url=f"usb:{i}") for i in range(self.cameras_usb_max)]
        return cams


def check_yaml_config(path: Path) -> None:
    """Clear errors for a missing file, bad YAML or a top level that is not a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")


def load_settings(config_file: Path | None = None, /, **overrides: Any) -> VigilSettings:
    """Settings from CLI `overrides` > env (`VIGIL_*`, seed aliases) > `.env` > YAML > defaults.

    The YAML file is `config_file`, else VIGIL_CONFIG_FILE; sections merge key by key across sources."""
    if config_file is None and os.environ.get("VIGIL_CONFIG_FILE"):
        config_file = Path(os.environ["VIGIL_CONFIG_FILE"])
    if config_file is not None:
        check_yaml_config(config_file)
    token = YAML_FILE.set(config_file)
    try:
        return VigilSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {describe_invalid(exc, show_input=False)}") from exc
    finally:
        YAML_FILE.reset(token)


def describe_invalid(
    exc: ValidationError, names: Mapping[str, str] | None = None, *, show_input: bool = True
) -> str:
    """The fields a validation refused, one clause each ("--faces: Input should be 'blur', ...
    (got 'smudge')"), without pydantic's class names and links; `names` renames a field's dotted
    path (e.g. to the CLI option that set it). The value given is shown only with `show_input`
    (a command-line option's value), never for the settings, where it may be a key or a URL with
    a password (hide_input_in_errors); redacted either way."""
    from vigil.redact import redact

    clauses = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "value"
        where = (names or {}).get(where, where)
        given = error.get("input")
        shown = f" (got {given!r})" if show_input and isinstance(given, str | int | float | bool) else ""
        clauses.append(f"{where}: {error['msg']}{shown}")
    return redact("; ".join(clauses))
