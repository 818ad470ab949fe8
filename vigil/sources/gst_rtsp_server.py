"""A small RTSP server (GStreamer's gst-rtsp-server): serves an H.264/H.265 MP4 or MOV without
re-encoding, as a camera would. `vigil simulate-rtsp` and the tests start it through
`vigil.sources.rtsp_simulator`.

It runs under the system Python, which has GStreamer's introspection data (Debian's python3-gi
and gir1.2-gst-rtsp-server-1.0), never inside Vigil's own environment, and imports nothing of
Vigil:

    /usr/bin/python3 vigil/sources/gst_rtsp_server.py --port 8554 --path /cam --file clip.mp4 --loop

Prints READY on stdout once the server listens; exits cleanly on SIGTERM or SIGINT.
With --audio the clip's AAC track is served too (RTP MPEG-4 generic); not with --loop.
With --loop, clients share one stream and the clip loops seamlessly through segment seeks
(running time keeps increasing, so RTP timestamps stay monotonic); if a seek fails the stream
simply ends, and clients see EOS. Known limit: the server skips its PLAY seek while the position
is still 0, which a very short clip (single_face.mp4, 2.4 s) hits, and then it is served once.
Without --loop, each client gets the clip once from its start.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

_SEGMENT_SEEK = Gst.SeekFlags.SEGMENT


CODECS = ("h264", "h265")


def _launch_line(path: Path, codec: str, audio: bool = False) -> str:
    location = str(path).replace("\\", "\\\\").replace('"', '\\"')
    # The clip's AAC track as RTP MPEG-4 generic (RFC 3640), as IP cameras send it.
    sound = " demux.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97" if audio else ""
    return (
        f'( filesrc location="{location}" ! qtdemux name=demux demux.video_0 ! queue '
        f"! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=1{sound} )"
    )


def _pipeline_of(element: Gst.Element) -> Gst.Pipeline | None:
    parent = element
    while parent is not None and not isinstance(parent, Gst.Pipeline):
        parent = parent.get_parent()
    return parent


def _seek_start(pipeline: Gst.Pipeline, flush: bool) -> bool:
    flags = _SEGMENT_SEEK | (Gst.SeekFlags.FLUSH if flush else Gst.SeekFlags.NONE)
    return bool(pipeline.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1))


def _on_media_configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
    element = media.get_element()
    pipeline = _pipeline_of(element)
    pay = element.get_by_name("pay0")
    if pipeline is None or pay is None:
        return

    def on_upstream_event(pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        # The server seeks on every PLAY (flushing, to the requested range): resend that
        # seek as a segment seek, so the end of the clip posts SEGMENT_DONE instead of EOS.
        event = info.get_event()
        if event is None or event.type != Gst.EventType.SEEK:
            return Gst.PadProbeReturn.OK
        rate, fmt, flags, start_type, start, stop_type, stop = event.parse_seek()
        if flags & _SEGMENT_SEEK:
            return Gst.PadProbeReturn.OK
        segment_seek = Gst.Event.new_seek(
            rate, fmt, flags | _SEGMENT_SEEK, start_type, start, stop_type, stop
        )
        if not pad.push_event(segment_seek):
            print("segment seek refused: the stream will end instead of looping", file=sys.stderr)
        return Gst.PadProbeReturn.DROP  # a dropped event counts as handled for the sender

    def on_sync_message(_bus: Gst.Bus, message: Gst.Message) -> None:
        # Streaming thread: seek from the main loop. A non-flushing segment seek restarts
        # the clip while running time (and so RTP timestamps) keeps growing.
        if message.type == Gst.MessageType.SEGMENT_DONE:
            GLib.idle_add(_loop_again, pipeline)

    pay.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, on_upstream_event)
    bus = pipeline.get_bus()
    bus.enable_sync_message_emission()
    bus.connect("sync-message", on_sync_message)


def _loop_again(pipeline: Gst.Pipeline) -> bool:
    if not _seek_start(pipeline, flush=False):
        print("loop seek refused: the stream will end", file=sys.stderr)
    return False  # run once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--codec", choices=CODECS, default="h264")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--loop", action="store_true", help="loop the clip (one stream shared by clients)")
    parser.add_argument("--audio", action="store_true", help="also serve the clip's AAC track")
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_launch_line(args.file.resolve(), args.codec, args.audio))
    if args.loop:
        factory.set_shared(True)
        factory.connect("media-configure", _on_media_configure)
    path = args.path if args.path.startswith("/") else "/" + args.path
    server.get_mount_points().add_factory(path, factory)

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda: loop.quit() or False)
    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    print("READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
