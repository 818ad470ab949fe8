"""Settings of batch tracking (`vigil track`): the `track` section of the settings root.

Environment names: `VIGIL_TRACK__<NAME>` (nested with `__`, like every section), the former
`VIGIL_TRACK_<NAME>`, or the seed's names listed in each field (`STEP5_TRACKING_ENGINE`,
`TRACKING_CPU_WORKERS`, ...), from the environment or a `.env` file in the working directory, as the
seed's workers read them. YAML: a `track:` mapping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from vigil.batch.blendshapes import unknown_blendshape_keys
from vigil.batch.landmarker import FACE_LANDMARKER_FILENAME
from vigil.detect.registry import detector_configs
from vigil.live.tracking_config import TrackerConfig

# Seed engines whose model files cannot ship: selecting one fails with the files to provide.
SEED_ONLY_ENGINES: tuple[str, ...] = ("insightface", "eos", "openseeface", "opencv_yunet_pyfeat")


# YuNet detection + the MediaPipe Face Landmarker (face_landmarker.task) on the tracked regions:
# 478 landmarks and 52 learned ARKit blendshapes (seed 000's default engine, under its name).
LANDMARKER_ENGINE: Final = "mediapipe_landmarker"
# The default: LANDMARKER_ENGINE when face_landmarker.task is found, else yunet (FaceMesh + the
# geometric blendshape estimates).
AUTO_ENGINE: Final = "auto"


def supported_engines() -> tuple[str, ...]:
    """Every face detector of `vigil.detect` is a batch engine, and so is the Face Landmarker."""
    return (LANDMARKER_ENGINE, *detector_configs())


# The seed's engine names (STEP5_TRACKING_ENGINE / --face_engine) mapped to Vigil's.
SEED_ENGINE_NAMES = {
    "opencv_yunet": "yunet",
    "opencv_haar": "haar",
    "mediapipe": LANDMARKER_ENGINE,
    "pyfeat": "opencv_yunet_pyfeat",
}
# What `tracking_engine` says in the output: the seed's name where the seed has this engine.
OUTPUT_ENGINE_NAMES = {"yunet": "opencv_yunet", "haar": "opencv_haar"}


def output_engine_name(engine: str) -> str:
    """The engine's name in `metadata.tracking_engine` (seed spelling when it has one)."""
    return OUTPUT_ENGINE_NAMES.get(engine, engine)


BlendshapeProfile = Literal["full", "mouth", "none", "mediapipe", "custom"]
PersonDetectorName = Literal["hog", "mediapipe_pose"]


def _alias(*seed_names: str) -> AliasChoices:
    # The seed's environment names (read by SectionAliasSource); YAML keys and keyword arguments
    # use the field name (populate_by_name).
    return AliasChoices(*seed_names)


class BatchTrackerConfig(TrackerConfig):
    """The live pipeline's tracker settings, read by batch's own tracker (`relink.BatchTracker`,
    run on every frame): it uses lost_track_buffer, min_iou and activation_threshold; it gives an id
    on a face's first detection, so min_consecutive is not used."""

    lost_track_buffer: int = Field(
        15, ge=0, le=1000, description="Frames a lost track is kept before its id is retired"
    )
    min_consecutive: int = Field(
        1, ge=1, le=30, description="Not used in batch: a face gets its id on its first detection"
    )


class BatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    # Also read: VIGIL_TRACK_<NAME>, this section's env names before it joined the settings root.
    legacy_env_prefix: ClassVar[str] = "VIGIL_TRACK_"
    # Where model files are looked up after `models_dir`; the settings root fills it in.
    _search_dirs: list[Path] | None = PrivateAttr(default=None)

    # ------------------------------------------------------------ engine
    engine: str = Field(
        AUTO_ENGINE,
        validation_alias=_alias("STEP5_TRACKING_ENGINE"),
        description="Face engine: mediapipe_landmarker (YuNet + MediaPipe Face Landmarker: 52 learned "
        "blendshapes), or any detector of vigil/detect/ with FaceMesh landmarks and geometric blendshapes "
        "(yunet, blazeface, mediapipe_facemesh, haar, dlib_hog); auto: mediapipe_landmarker when "
        "face_landmarker.task is found, else yunet (seed names opencv_yunet, opencv_haar, mediapipe "
        "accepted)",
    )
    models_dir: Path | None = Field(
        None,
        description="Model files of batch tracking, searched before the root's models_dir, "
        "<data_dir>/models and <shared_dir>/models",
    )
    yunet_model_path: Path | None = Field(
        None,
        validation_alias=_alias("STEP5_YUNET_MODEL_PATH"),
        description="YuNet ONNX file; default face_detection_yunet_2023mar.onnx in the models dirs",
    )
    face_landmarker_model_path: Path | None = Field(
        None,
        description="MediaPipe Face Landmarker bundle; default face_landmarker.task in the models dirs "
        "(`vigil models fetch face_landmarker`)",
    )
    landmarker_min_presence: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="mediapipe_landmarker: face-presence score under which a detector's region gets no "
        "landmarks (MediaPipe's min_face_presence_confidence, 0.5 there: on YuNet's regions, small, dark "
        "and turned faces that have good landmarks score 0.01-0.5)",
    )
    landmarker_follow_presence: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="mediapipe_landmarker: the same between detection frames, on regions that follow the "
        "landmarks (lower, a followed face can slide onto a passer-by)",
    )
    yunet_max_width: int = Field(
        640,
        ge=64,
        le=7680,
        validation_alias=_alias("STEP5_YUNET_MAX_WIDTH"),
        description="Frames wider than this are downscaled for detection (yunet, blazeface, haar, "
        "dlib_hog); boxes are rescaled to the original size",
    )
    opencv_max_faces: int | None = Field(
        None,
        ge=1,
        le=1000,
        validation_alias=_alias("STEP5_OPENCV_MAX_FACES"),
        description="Keep at most this many faces per frame (yunet, haar, dlib_hog, blazeface); "
        "None: all (up to 50)",
    )
    mediapipe_max_faces: int = Field(
        4,
        ge=1,
        le=50,
        validation_alias=_alias("STEP5_MEDIAPIPE_MAX_FACES"),
        description="Faces searched per frame by the mediapipe_facemesh engine",
    )
    mediapipe_max_width: int | None = Field(
        None,
        ge=64,
        le=7680,
        validation_alias=_alias("STEP5_MEDIAPIPE_MAX_WIDTH"),
        description="Downscale limit for the mediapipe_facemesh engine's detector (None: native width)",
    )
    score_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Minimum face detector confidence; None: the live detector's default",
    )
    detect_every_n: int = Field(
        5,
        ge=1,
        le=60,
        description="Run the face detector on every Nth frame (frames 1, 1+N, ...); in between, faces "
        "follow their landmarks (MediaPipe-style ROI tracking). 1: detect on every frame",
    )
    landmarks_min_face_px: int = Field(
        20,
        ge=0,
        le=1000,
        description="Faces whose box side is smaller (in original pixels) get no landmarks, "
        "blendshapes or head pose (too small to measure)",
    )
    refine_landmarks: bool | None = Field(
        None,
        description="FaceMesh attention model (478 points incl. irises, ~1.5x slower); "
        "None: only for mediapipe_facemesh (yunet/blazeface/haar then get 468 points)",
    )
    landmark_max_width: int = Field(
        1280,
        ge=64,
        le=7680,
        description="Frames wider than this are downscaled before landmarks are located",
    )
    # ------------------------------------------------------------ blendshapes / speaking
    opencv_jawopen_scale: float = Field(
        1.0,
        gt=0,
        le=100,
        validation_alias=_alias("STEP5_OPENCV_JAWOPEN_SCALE"),
        description="jawOpen multiplier for the yunet, haar and dlib_hog engines",
    )
    mediapipe_jawopen_scale: float = Field(
        1.0,
        gt=0,
        le=100,
        validation_alias=_alias("STEP5_MEDIAPIPE_JAWOPEN_SCALE"),
        description="jawOpen multiplier for the mediapipe_facemesh and blazeface engines",
    )
    blendshapes_profile: BlendshapeProfile = Field(
        "full",
        validation_alias=_alias("STEP5_BLENDSHAPES_PROFILE"),
        description="Exported blendshapes: full, mouth (mouth*/jaw*), none (null), mediapipe "
        "(no tongueOut, adds _neutral), custom (blendshapes_export_keys)",
    )
    blendshapes_export_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_alias("STEP5_BLENDSHAPES_EXPORT_KEYS"),
        description="Comma-separated whitelist for the custom profile",
    )
    blendshapes_include_tongue: bool = Field(
        False,
        validation_alias=_alias("STEP5_BLENDSHAPES_INCLUDE_TONGUE"),
        description="With the mouth profile, also export tongueOut",
    )
    blendshapes_throttle_n: int = Field(
        1,
        ge=1,
        le=1000,
        validation_alias=_alias("STEP5_BLENDSHAPES_THROTTLE_N"),
        description="Compute blendshapes every N frames per track (cached in between)",
    )
    speaking_audio_weight: float = Field(0.6, ge=0, le=1, description="Weight of the audio source")
    speaking_visual_weight: float = Field(0.4, ge=0, le=1, description="Weight of the mouth motion")
    speaking_threshold: float = Field(0.3, ge=0, le=1, description="Fused score that means speaking")
    # ------------------------------------------------------------ export
    export_verbose_fields: bool = Field(
        False,
        validation_alias=_alias("STEP5_EXPORT_VERBOSE_FIELDS"),
        description="Export each face's landmarks ([x, y, z] pixels; large files)",
    )
    enable_object_detection: bool = Field(
        False,
        validation_alias=_alias("STEP5_ENABLE_OBJECT_DETECTION"),
        description="When a frame has no face, look for objects (COCO label, e.g. person; source "
        "object_detector)",
    )
    person_detector: PersonDetectorName = Field(
        "mediapipe_pose",
        description="Person fallback detector: mediapipe_pose (one person, upper bodies too) or hog "
        "(OpenCV HOG people detector: several upright full bodies); runs on detection frames only",
    )
    person_min_score: float = Field(
        0.5, ge=0, le=1, description="Minimum confidence of a fallback object (COCO object or person)"
    )
    object_detector_model: str = Field(
        "coco_ssd_mobilenet",
        min_length=1,
        validation_alias=_alias("STEP5_OBJECT_DETECTOR_MODEL"),
        description="Object fallback model (MediaPipe ObjectDetector, COCO classes): coco_ssd_mobilenet, "
        "efficientdet_lite0 (vigil models fetch NAME), or the seed's efficientdet_lite1/2, ssd_mobilenet_v3 "
        "files; when not installed, person_detector is used",
    )
    object_detector_model_path: Path | None = Field(
        None,
        validation_alias=_alias("STEP5_OBJECT_DETECTOR_MODEL_PATH"),
        description="A MediaPipe object detector .tflite, instead of object_detector_model's file",
    )
    # ------------------------------------------------------------ parallelism
    cpu_workers: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        json_schema_extra={"doc_default": "CPU count"},
        ge=1,
        le=256,
        validation_alias=_alias("TRACKING_CPU_WORKERS"),
        description="Worker processes (1: in-process, no pool); when not set, planned from the work: "
        "~1 per 200 frames of 360p, at most the CPU count",
    )
    warm_idle_s: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="vigil serve: keep the tracking workers started (models loaded) this long after "
        "a job, for the next one; 0: stop them with each job",
    )
    chunk_size: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="Fixed frames per chunk; None or 0: adaptive (about 5 chunks per worker, >= 20)",
    )
    chunk_min: int = Field(
        20,
        ge=1,
        le=1_000_000,
        validation_alias=_alias("TRACKING_CHUNK_MIN"),
        description="Smallest adaptive chunk (frames)",
    )
    chunk_max: int = Field(
        400,
        ge=1,
        le=1_000_000,
        validation_alias=_alias("TRACKING_CHUNK_MAX"),
        description="Largest adaptive chunk (frames)",
    )
    parallel_videos: int = Field(
        2, ge=1, le=64, description="Videos whose chunks are in flight at the same time"
    )
    decode_threads: int = Field(1, ge=0, le=64, description="FFmpeg threads per worker (0: auto)")
    enable_profiling: bool = Field(
        False,
        validation_alias=_alias("STEP5_ENABLE_PROFILING"),
        description="Log [PROFILING] stage timings per chunk",
    )
    tracker: BatchTrackerConfig = Field(
        default_factory=BatchTrackerConfig, description="Tracker (ids persist across the video)"
    )

    @field_validator("engine", mode="before")
    @classmethod
    def _seed_engine_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            name = value.strip().lower()
            return SEED_ENGINE_NAMES.get(name, name)
        return value

    @field_validator("engine", mode="after")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in (AUTO_ENGINE, *supported_engines(), *SEED_ONLY_ENGINES):
            choices = ", ".join([AUTO_ENGINE, *supported_engines(), *SEED_ONLY_ENGINES])
            raise ValueError(f"unknown engine {value!r}; choose from {choices}")
        return value

    @field_validator("blendshapes_export_keys", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("chunk_size", mode="after")
    @classmethod
    def _zero_is_adaptive(cls, value: int | None) -> int | None:
        return None if value == 0 else value

    @model_validator(mode="after")
    def _check_bounds(self) -> BatchSettings:
        if self.chunk_min > self.chunk_max:
            raise ValueError(f"chunk_min ({self.chunk_min}) must not exceed chunk_max ({self.chunk_max})")
        if self.blendshapes_profile == "custom" and not self.blendshapes_export_keys:
            raise ValueError(
                "blendshapes_profile 'custom' needs blendshapes_export_keys (STEP5_BLENDSHAPES_EXPORT_KEYS)"
            )
        unknown = unknown_blendshape_keys(self.blendshapes_export_keys)
        if unknown:  # checked here, not when the first face is exported
            raise ValueError(
                f"blendshapes_export_keys (STEP5_BLENDSHAPES_EXPORT_KEYS) has unknown keys {unknown}; "
                "use ARKit names such as jawOpen, mouthSmileLeft, eyeBlinkLeft (or _neutral)"
            )
        return self

    @property
    def resolved_engine(self) -> str:
        """The engine that runs: `auto` is mediapipe_landmarker when its model file is found, else yunet."""
        if self.engine != AUTO_ENGINE:
            return self.engine
        return LANDMARKER_ENGINE if self.face_landmarker_path() is not None else "yunet"

    def face_landmarker_path(self) -> Path | None:
        """The Face Landmarker bundle: `face_landmarker_model_path`, else the first models dir holding it."""
        if self.face_landmarker_model_path is not None:
            path = self.face_landmarker_model_path
            return path if path.is_file() else None
        for directory in self.models_dirs():
            if (directory / FACE_LANDMARKER_FILENAME).is_file():
                return directory / FACE_LANDMARKER_FILENAME
        return None

    @property
    def jawopen_scale(self) -> float:
        """The seed's per-engine-family jawOpen multiplier."""
        engine = self.resolved_engine
        config = detector_configs().get(engine)
        mediapipe_family = engine == LANDMARKER_ENGINE or (
            config is not None and config.jaw_open_family == "mediapipe"
        )
        return self.mediapipe_jawopen_scale if mediapipe_family else self.opencv_jawopen_scale

    @property
    def use_refined_landmarks(self) -> bool:
        return self.engine == "mediapipe_facemesh" if self.refine_landmarks is None else self.refine_landmarks

    def set_search_dirs(self, dirs: list[Path]) -> None:
        self._search_dirs = list(dirs)

    def models_dirs(self) -> list[Path]:
        """Where model files are looked up, first match wins: `models_dir`, then the settings root's
        (models_dir, <data_dir>/models, <shared_dir>/models)."""
        dirs = [self.models_dir] if self.models_dir else []
        if self._search_dirs is None:  # built on its own (tests, benchmarks): the environment's root
            from vigil.config import load_settings  # the root imports this module

            self._search_dirs = load_settings().model_search_dirs()
        return list(dict.fromkeys([*dirs, *self._search_dirs]))


def load_batch_settings(config_file: Path | None = None, /, **overrides: Any) -> BatchSettings:
    """The `track` section from env/.env/YAML with `overrides` (CLI flags; None values ignored) on top."""
    from vigil.config import load_settings  # the root imports this module

    return load_settings(config_file, track={k: v for k, v in overrides.items() if v is not None}).track
