"""What the Kaltura sandbox serves outside the API: the thumbnail API, playManifest /
download URLs (with HTTP Range, via werkzeug's conditional responses), a landing page per
entry that plays the video and counts views and plays per recipient token, and a minimal
player script with Kaltura's ``KalturaPlayer.setup(...).loadMedia({entryId})`` surface
(plus its iframe form), so pages written for Kaltura's player run against the sandbox.

Routes (``pid`` is the sandbox partner, ``sp`` = pid*100; docs/protocols.md, "Kaltura:
delivery URLs and the player")::

    /p/<pid>/sp/<pid>00/thumbnail/entry_id/<id>[/version/<v>][/width/<w>/height/<h>
        /type/<1-4>/vid_sec/<s>/quality/<q>]                       -> image/jpeg
    /p/<pid>/sp/<pid>00/playManifest/entryId/<id>/format/url|download/protocol/<p>
        [/flavorParamIds/0][/a.mp4]                                -> the video (Range)
    /landing/<entryId>?r=<recipient token>&name=<name>              -> HTML (counts a view)
    POST /landing/<entryId>/play?r=<recipient token>                -> 204 (counts a play)
    /p/<pid>/embedPlaykitJs/uiconf_id/<ui>                          -> player script
    /p/<pid>/embedPlaykitJs/uiconf_id/<ui>?iframeembed=true&entry_id=<id>  -> player page
    /p/<pid>/sp/<pid>00/embedIframeJs/uiconf_id/<ui>/partner_id/<pid>?iframeembed=true&entry_id=<id>
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import cv2
import numpy as np
from werkzeug.datastructures import Headers
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from app.sandbox.kaltura.entries import READY, Entries

MAX_THUMB_SIDE = 4096
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def _pairs(segments: list[str]) -> dict[str, str]:
    return {segments[i].lower(): segments[i + 1] for i in range(0, len(segments) - 1, 2)}


def _text(status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(body, status=status, content_type=content_type)


def _js_string(value: str) -> str:
    """A JSON string literal that is safe inside an inline <script>."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.lru_cache(maxsize=128)
def _thumbnail(  # noqa: PLR0917 - lru_cache needs positional keys
    path: str, mtime: float, width: int, height: int, kind: int, sec: float, quality: int
) -> bytes:
    frame = _frame_at(Path(path), sec)
    if frame is None:
        frame = np.full((360, 640, 3), 64, np.uint8)
    img = _fit(frame, width, height, kind)
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:  # pragma: no cover - cv2 always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


def _frame_at(path: Path, sec: float) -> np.ndarray[Any, Any] | None:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            best = None
            if sec > 0 and stream.time_base:
                try:
                    container.seek(int(sec / stream.time_base), stream=stream, backward=True)
                except av.FFmpegError:
                    container.seek(0)
            for frame in container.decode(stream):
                best = frame
                if frame.time is None or frame.time >= sec:
                    break
            return None if best is None else best.to_ndarray(format="bgr24")
    except (av.FFmpegError, OSError, ValueError):
        return None


def _fit(img: np.ndarray[Any, Any], width: int, height: int, kind: int) -> np.ndarray[Any, Any]:
    """Kaltura thumbnail types: 1 resize (keep aspect), 2 pad, 3 crop centre, 4 crop top."""
    h, w = img.shape[:2]
    if not width and not height:
        return img
    if not width:
        width = max(1, round(w * height / h))
    if not height:
        height = max(1, round(h * width / w))
    if kind in (3, 4):
        scale = max(width / w, height / h)
        resized = cv2.resize(img, (max(width, round(w * scale)), max(height, round(h * scale))))
        rh, rw = resized.shape[:2]
        x = (rw - width) // 2
        y = 0 if kind == 4 else (rh - height) // 2
        return resized[y : y + height, x : x + width]
    scale = min(width / w, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    if kind == 2:
        canvas = np.zeros((height, width, 3), np.uint8)
        y, x = (height - size[1]) // 2, (width - size[0]) // 2
        canvas[y : y + size[1], x : x + size[0]] = resized
        return canvas
    return resized


class Delivery:
    """Serves the non-API routes for one sandbox."""

    def __init__(self, entries: Entries, partner_id: int, uiconf_id: int) -> None:
        self.entries = entries
        self.partner_id = partner_id
        self.uiconf_id = uiconf_id

    def route(self, request: Request) -> Response | None:
        segs = [s for s in request.path.split("/") if s]
        if len(segs) >= 2 and segs[0] == "landing":
            return self.landing(request, segs[1:])
        if len(segs) < 3 or segs[0] != "p" or segs[1] != str(self.partner_id):
            return None
        rest = segs[2:]
        if rest[0] == "sp" and len(rest) >= 2:
            if rest[1] != f"{self.partner_id}00":
                return None
            rest = rest[2:]
        if not rest:
            return None
        kind, args = rest[0], rest[1:]
        if kind == "thumbnail":
            return self.thumbnail(_pairs(args))
        if kind == "playManifest":
            return self.manifest(request, args)
        if kind in ("embedPlaykitJs", "embedIframeJs"):
            return self.player(request, _pairs(args))
        return None

    # ------------------------------------------------------------------ media

    def _ready_entry(self, entry_id: str) -> tuple[dict[str, Any], Path] | None:
        try:
            entry = self.entries.find(entry_id, None)
        except Exception:
            return None
        path = self.entries.content_path(entry)
        if entry["status"] != READY or path is None:
            return None
        return entry, path

    def thumbnail(self, args: dict[str, str]) -> Response:
        entry_id = args.get("entry_id", "")
        try:
            width = int(args.get("width", "0") or 0)
            height = int(args.get("height", "0") or 0)
            kind = int(args.get("type", "1") or 1)
            sec = float(args.get("vid_sec", "-1") or -1)
            quality = int(args.get("quality", "75") or 75)
        except ValueError:
            return _text(400, "bad thumbnail parameters")
        if not (0 <= width <= MAX_THUMB_SIDE and 0 <= height <= MAX_THUMB_SIDE) or not (
            math.isfinite(sec) and abs(sec) < 1e7
        ):
            return _text(400, "bad thumbnail parameters")
        found = self._ready_entry(entry_id)
        if found is None:
            try:
                self.entries.find(entry_id, None)
            except Exception:
                return _text(404, "entry not found")
            path_s, mtime, sec = "", 0.0, 0.0  # not ready yet: a neutral placeholder
        else:
            entry, path = found
            path_s, mtime = str(path), path.stat().st_mtime
            if sec < 0:
                duration = float(entry.get("durationSec") or 0)
                sec = min(3.0, duration / 2)
        data = _thumbnail(
            path_s,
            mtime,
            width,
            height,
            kind if kind in (1, 2, 3, 4) else 1,
            sec,
            max(1, min(100, quality)),
        )
        return Response(data, content_type="image/jpeg", headers={"Cache-Control": "max-age=60"})

    def manifest(self, request: Request, args: list[str]) -> Response:
        if args and args[-1].startswith("a.") and len(args) % 2 == 1:
            args = args[:-1]
        params = _pairs(args)
        found = self._ready_entry(params.get("entryid", ""))
        if found is None:
            return _text(404, "entry not found or not ready")
        entry, path = found
        download = params.get("format", "url") == "download"
        name = _SAFE_NAME.sub("_", entry.get("name") or entry["id"]).strip() or entry["id"]
        resp = send_file(
            path,
            request.environ,
            mimetype="video/mp4",
            as_attachment=download,
            download_name=f"{name[:100]}.mp4",
            conditional=True,
            max_age=60,
        )
        resp.headers["Accept-Ranges"] = "bytes"
        return resp

    # ------------------------------------------------------------------ pages

    def _urls(self, request: Request, entry_id: str) -> tuple[str, str]:
        base = request.host_url.rstrip("/")
        pid = self.partner_id
        sp = f"{base}/p/{pid}/sp/{pid}00"
        video = f"{sp}/playManifest/entryId/{entry_id}/format/url/protocol/{request.scheme}/a.mp4"
        poster = f"{base}/p/{pid}/sp/{pid}00/thumbnail/entry_id/{entry_id}/width/960"
        return video, poster

    def landing(self, request: Request, args: list[str]) -> Response:
        entry_id = args[0]
        recipient = request.args.get("r", "")[:200]
        if len(args) == 2 and args[1] == "play":
            if request.method != "POST":
                return _text(405, "POST only")
            if not self.entries.count(entry_id, "play", recipient):
                return _text(404, "entry not found")
            return Response(status=204)
        if len(args) != 1 or request.method not in ("GET", "HEAD"):
            return _text(404, "not found")
        try:
            entry = self.entries.find(entry_id, None)
        except Exception:
            return _text(404, "This video is not available.", "text/html; charset=utf-8")
        if request.method == "GET":  # a HEAD probe is not somebody watching
            self.entries.count(entry_id, "view", recipient)
        name = request.args.get("name", "")[:200]
        greeting = f"Hi {html.escape(name)}," if name else "Hi,"
        title = html.escape(entry.get("name") or "A video for you")
        video, poster = self._urls(request, entry_id)
        beacon = f"/landing/{entry_id}/play?r=" + _url_quote(recipient)
        ready = entry["status"] == READY
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body>"
            f'<h1 id="greeting">{greeting}</h1><p>{title}</p>'
            + (
                f'<video id="player" controls playsinline preload="metadata" '
                f'poster="{html.escape(poster)}" src="{html.escape(video)}" '
                'style="max-width:100%"></video>'
                if ready
                else '<p id="processing">This video is still being processed. '
                "Please reload the page in a minute.</p>"
            )
            + "<script>(function(){var v=document.getElementById('player');if(!v)return;"
            "var sent=false;v.addEventListener('play',function(){if(sent)return;sent=true;"
            f"var u={_js_string(beacon)};"
            "if(navigator.sendBeacon){navigator.sendBeacon(u);}else{"
            "fetch(u,{method:'POST',keepalive:true});}});})();</script>"
            "</body></html>"
        )
        return Response(
            body,
            content_type="text/html; charset=utf-8",
            headers=Headers([("Cache-Control", "no-store")]),
        )

    def player(self, request: Request, args: dict[str, str]) -> Response:
        if args.get("uiconf_id") != str(self.uiconf_id):
            return _text(404, "uiconf not found")
        base = request.host_url.rstrip("/")
        if request.args.get("iframeembed", "").lower() == "true":
            entry_id = request.args.get("entry_id", "")
            script = f"{base}/p/{self.partner_id}/embedPlaykitJs/uiconf_id/{self.uiconf_id}"
            page = (
                '<!doctype html><html><head><meta charset="utf-8">'
                "<style>html,body{margin:0;height:100%}#kplayer{height:100%}</style></head>"
                f'<body><div id="kplayer"></div><script src="{html.escape(script)}"></script>'
                "<script>KalturaPlayer.setup({targetId:'kplayer',provider:{partnerId:"
                f"{self.partner_id},uiConfId:{self.uiconf_id}}}}}).loadMedia({{entryId:"
                f"{_js_string(entry_id)}}});</script></body></html>"
            )
            return Response(page, content_type="text/html; charset=utf-8")
        js = _PLAYER_JS.replace("__BASE__", _js_string(base)).replace(
            "__PID__", str(self.partner_id)
        )
        return Response(js, content_type="application/javascript; charset=utf-8")


def _url_quote(value: str) -> str:
    return quote(value, safe="")


_PLAYER_JS = """/* Video Messaging sandbox: a minimal stand-in for Kaltura's Playkit player. */
(function () {
  var BASE = __BASE__, PID = __PID__;
  function Player(config) {
    this.config = config || {};
    this.el = document.getElementById(this.config.targetId);
    if (!this.el) { throw new Error('KalturaPlayer: no element with id ' + this.config.targetId); }
  }
  Player.prototype.loadMedia = function (info) {
    var id = String((info || {}).entryId || ''), self = this;
    var sp = BASE + '/p/' + PID + '/sp/' + PID + '00';
    var v = document.createElement('video');
    v.controls = true; v.playsInline = true; v.preload = 'metadata';
    v.style.width = '100%'; v.style.height = '100%';
    v.src = sp + '/playManifest/entryId/' + encodeURIComponent(id) +
      '/format/url/protocol/' + location.protocol.replace(':', '') + '/a.mp4';
    v.poster = sp + '/thumbnail/entry_id/' + encodeURIComponent(id) + '/width/960';
    var counted = false;
    v.addEventListener('play', function () {
      if (counted) { return; }
      counted = true;
      var r = (self.config.playback && self.config.playback.recipient) || '';
      var u = BASE + '/landing/' + encodeURIComponent(id) + '/play?r=' + encodeURIComponent(r);
      if (navigator.sendBeacon) { navigator.sendBeacon(u); } else { fetch(u, {method: 'POST'}); }
    });
    while (this.el.firstChild) { this.el.removeChild(this.el.firstChild); }
    this.el.appendChild(v);
    this.video = v;
    return Promise.resolve({entryId: id});
  };
  Player.prototype.play = function () { return this.video ? this.video.play() : undefined; };
  Player.prototype.pause = function () { if (this.video) { this.video.pause(); } };
  Player.prototype.destroy = function () {
    if (this.video) { this.video.remove(); this.video = null; }
  };
  window.KalturaPlayer = {
    setup: function (config) {
      var provider = (config || {}).provider || {};
      if (String(provider.partnerId) !== String(PID)) {
        throw new Error('KalturaPlayer: unknown partnerId ' + provider.partnerId);
      }
      return new Player(config);
    }
  };
})();
"""
