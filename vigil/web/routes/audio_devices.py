"""Microphones for live activity (issue 18 item 3), as the seed names the routes: list the input
devices (any logged-in user: the dashboard shows them, and says why the list is empty) and choose
the one live capture records from (admin; kept in `<data_dir>/audio_device.json`, see
vigil/activity/audio_choice.py). The list is read again at every call: devices come and go."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.activity.audio_choice import AudioDeviceChoice, load_choice, save_choice
from vigil.activity.microphone import (
    AudioDevice,
    AudioDevices,
    DeviceNotFound,
    DeviceSelector,
    find_device,
    list_input_devices,
)
from vigil.web.auth import Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx

router = APIRouter(tags=["audio"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
Admin = Annotated[Principal, Depends(require_admin)]


class AudioDeviceOut(BaseModel):
    index: int = Field(description="PortAudio's index (changes when devices come and go)")
    name: str
    host_api: str = Field(description="ALSA, OSS, JACK... (PulseAudio and PipeWire appear through ALSA)")
    channels: int = Field(description="Input channels")
    default_rate: float = Field(description="Hz; capture resamples to 16 kHz mono")
    is_default: bool = Field(description="The system's default input")


class AudioDevicesOut(BaseModel):
    devices: list[AudioDeviceOut]
    selected: AudioDeviceOut | None = Field(
        description="The device live capture opens, when it is in the list (null otherwise)"
    )
    selector: int | str | None = Field(
        description="What was asked for: the saved choice's name, else `activity.audio_device` "
        "(null: the default input)"
    )
    selected_from: Literal["saved", "config", "default"]
    reason: str | None = Field(
        description="Why `devices` is empty, or why `selected` is null (no sound card, no sound "
        "server, PortAudio missing, the chosen device gone)"
    )


class SetAudioDevice(BaseModel):
    """Exactly one of an index or an exact name, from GET /api/audio-devices."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, ge=0, le=10_000)
    name: str | None = Field(None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one(self) -> SetAudioDevice:
        if (self.index is None) == (self.name is None):
            raise ValueError("give exactly one of index or name")
        return self


def _out(device: AudioDevice) -> AudioDeviceOut:
    return AudioDeviceOut(
        index=device.index,
        name=device.name,
        host_api=device.host_api,
        channels=device.channels,
        default_rate=device.default_rate,
        is_default=device.is_default,
    )


def _listing(ctx: WebContext, devices: AudioDevices) -> AudioDevicesOut:
    choice = load_choice(ctx.settings.data_dir)
    configured = ctx.settings.activity.audio_device
    selector: DeviceSelector = choice.name if choice is not None else configured
    source: Literal["saved", "config", "default"] = (
        "saved" if choice is not None else "config" if configured is not None else "default"
    )
    selected: AudioDeviceOut | None = None
    reason = devices.reason
    if devices.devices:
        try:
            selected = _out(find_device(devices, selector))
        except DeviceNotFound as exc:
            reason = str(exc)
    return AudioDevicesOut(
        devices=[_out(d) for d in devices.devices],
        selected=selected,
        selector=selector,
        selected_from=source,
        reason=reason,
    )


@router.get("/api/audio-devices", response_model=AudioDevicesOut)
async def audio_devices(ctx: Ctx, _: Viewer) -> AudioDevicesOut:
    """The input devices PortAudio sees now, and the one live activity records from. Empty with
    a `reason` on a machine without a sound card or sound server: never an error."""
    devices = await run_in_threadpool(list_input_devices)
    return _listing(ctx, devices)


@router.post("/api/set-audio-device", response_model=AudioDevicesOut)
async def set_audio_device(body: SetAudioDevice, ctx: Ctx, _: Admin) -> AudioDevicesOut:
    """Choose the microphone by index or exact name; it must be in the current list (404
    otherwise). Kept across restarts; it overrides `activity.audio_device`."""
    devices = await run_in_threadpool(list_input_devices)
    device = find_device(devices, body.index if body.index is not None else body.name)
    save_choice(ctx.settings.data_dir, AudioDeviceChoice(index=device.index, name=device.name))
    return _listing(ctx, devices)
