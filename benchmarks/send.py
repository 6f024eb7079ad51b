"""Send benchmarks (issue 7): personalized emails through the outbox, Graph and SMTP.

Each measurement sits next to a baseline taken in the same run:

- ``render``: building one personal message (Jinja render + css_inline + checks) vs the
  Jinja render alone, ms per recipient (median over the recipients).
- ``graph_50``: 50 recipients through the outbox and ``$batch`` (Graph sandbox, HTTPS):
  wall time, HTTP requests to Graph (target <= 3), messages in the mailbox, each to one
  recipient; baseline: the same 50 messages as 50 single ``POST /me/sendMail`` requests.
- ``graph_faults_200``: 200 recipients, 30% of ``$batch`` requests failing (500, reset,
  response lost after the server accepted): lost (neither delivered nor flagged) and
  duplicated must be 0; how many ended unknown; then the same with the exactly-once
  draft flow (Mail.ReadWrite): every message sent exactly once.
- ``smtp_50``: 50 recipients through the SMTP transport to a local aiosmtpd server with
  STARTTLS and AUTH: wall time, messages received and well-formed; baseline: smtplib
  sending the same 50 prebuilt MIME messages on one connection.
- ``restart_200``: the same command run again after a crash. ``vmsg send`` to 200
  recipients with 30% of ``$batch`` requests failing is killed (SIGKILL) at 10 random
  points (after a random number of deliveries), and each time the same command is run
  again until it ends. Lost (a recipient told "sent" who got nothing, or neither delivered
  nor told) and duplicated (delivered twice) must be 0; messages left "unknown" are
  counted with their cause. Then the same with exactly-once sending on.
- ``first_frame``: the optional per-recipient first frame ("Hi Ann" on the GIF): seconds per
  recipient to make a personal GIF from a 5 s synthetic take vs 0 extra for one shared GIF;
  for 50 recipients that is the extra wait before the first email can go.

The sandboxes run in this process (they share the GIL with the client), so the times
are upper bounds of what the app sees against a separate server.

    .venv/bin/python benchmarks/send.py [--quick]
"""

from __future__ import annotations

import argparse
import email.policy
import json
import shutil
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.endpoints import KalturaEndpoint  # noqa: E402
from app.kaltura.links import landing_url  # noqa: E402
from app.mail.message import (  # noqa: E402
    Composition,
    Sender,
    build_message,
    check_cta,
    inline_preview,
    make_recipient,
    template_context,
)
from app.mail.outbox import Outbox  # noqa: E402
from app.mail.pump import Pump  # noqa: E402
from app.mail.templates import TemplateCatalog  # noqa: E402
from app.mail.transports.graph import GraphTransport  # noqa: E402
from app.mail.transports.smtp import SmtpTransport, to_mime  # noqa: E402
from app.microsoft.graph import GraphClient  # noqa: E402
from app.sandbox.certs import ensure_certificates, server_ssl_context  # noqa: E402
from app.sandbox.httpd import FaultConfig  # noqa: E402
from app.sandbox.kaltura import start_kaltura  # noqa: E402
from app.sandbox.microsoft import start_microsoft  # noqa: E402
from app.sandbox.testing import DeviceCodeToken  # noqa: E402


def make_take(folder: Path, seconds: float) -> Path:
    """A synthetic take made by the recorder (test-pattern camera, tone microphone)."""
    from app.recorder import devices
    from app.recorder.recorder import Recorder

    path = folder / "take.mp4"
    rec = Recorder(
        path,
        devices.make_camera("synthetic"),
        devices.make_microphone("synthetic"),
        countdown=0,
        max_seconds=seconds,
        size=(640, 360),
        fps=30,
    )
    rec.start()
    rec.wait()
    return path


def people(n: int) -> list[Any]:
    return [
        make_recipient(f"guest{i:03d}@fabrikam.example", display_name=f"Guest{i:03d} Tester")
        for i in range(n)
    ]


def bench_render(comp: Composition, n: int) -> dict[str, Any]:
    catalog = TemplateCatalog()
    link = "https://videos.example/landing/1_abc?r=tok"
    full, bare = [], []
    for r in people(n):
        t = time.perf_counter()
        build_message(comp, r, link, catalog=catalog)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        catalog.render(comp.template, template_context(comp, r, link))
        bare.append(time.perf_counter() - t)
    f, b = statistics.median(full) * 1000, statistics.median(bare) * 1000
    return {"ms_per_message": round(f, 2), "baseline_render_only_ms": round(b, 2),
            "ratio": round(f / b, 2)}  # fmt: skip


def recipients_of(rec: dict[str, Any]) -> list[str]:
    return [r["emailAddress"]["address"] for r in rec["message"].get("toRecipients", [])]


class Env:
    def __init__(self, root: Path) -> None:
        self.ms = start_microsoft(root / "ms", directory_size=200)
        self.kaltura_service, self.kaltura = start_kaltura(root / "kaltura", conversion_seconds=0.1)
        self.sender = self.ms.senders[0]
        http = requests.Session()
        http.trust_env = False
        k = self.kaltura.url
        ks = http.post(
            f"{k}/api_v3/service/session/action/start",
            json={"format": 1, "secret": self.kaltura_service.manifest()["admin_secret"],
                  "type": 0, "userId": self.sender["email"],
                  "partnerId": self.kaltura_service.partner_id},
            timeout=10,
        ).json()  # fmt: skip
        entry = http.post(
            f"{k}/api_v3/service/media/action/add",
            json={"format": 1, "ks": ks, "entry": {"objectType": "KalturaMediaEntry",
                  "name": "Benchmark", "mediaType": 1}},
            timeout=10,
        ).json()  # fmt: skip
        self.entry_id = str(entry["id"])
        self.endpoint = KalturaEndpoint(service_url=k, partner_id=self.kaltura_service.partner_id)
        self.http = http

    def link(self, entry_id: str, token: str, name: str) -> str:
        return landing_url(self.endpoint, entry_id, recipient_token=token, recipient_name=name)

    def graph(self, *, exactly_once: bool = False) -> GraphClient:
        scopes = "User.Read Mail.Send offline_access" + (" Mail.ReadWrite" if exactly_once else "")
        client = GraphClient(
            self.ms.graph_url, DeviceCodeToken(self.ms, scopes), ca_file=str(self.ms.ca_file),
            backoff_base=0.05, backoff_cap=0.5, max_retries=3,
        )  # fmt: skip
        client.request("GET", "/me")
        return client

    def mailbox(self) -> Counter[str]:
        return Counter(
            a
            for rec in self.ms.graph.sent_messages(self.sender["email"])
            for a in recipients_of(rec)
        )

    def stop(self) -> None:
        self.kaltura.stop()
        self.kaltura_service.close()
        self.ms.stop()


#: Added to every Graph request in graph_50 (both runs): a typical round trip to Graph.
LATENCY_MS = 80.0


def bench_graph_50(env: Env, comp: Composition, root: Path, n: int) -> dict[str, Any]:
    before = env.mailbox()
    faults = env.ms.graph_server.faults
    client = env.graph()
    with Outbox(root / "graph50.db") as box:
        job = box.add_job(comp, people(n), entry_id=env.entry_id)
        faults.clear_log()
        faults.configure(FaultConfig(latency_ms=LATENCY_MS))
        t = time.perf_counter()
        Pump(box, GraphTransport(client), env.link).run()
        elapsed = time.perf_counter() - t
        counts = box.counts(job)
        links = [m.landing_url for m in box.messages(job)]
    requests_made = len(faults.request_log())
    delivered = env.mailbox() - before
    landing_ok = sum(1 for u in links[:10] if env.http.get(u, timeout=10).status_code == 200)
    # Baseline: one POST /me/sendMail per message, no batching, no outbox.
    catalog = TemplateCatalog()
    msgs = [build_message(comp, r, env.link(env.entry_id, "b", r.first_name), catalog=catalog)
            for r in people(n)]  # fmt: skip
    t = time.perf_counter()
    for m in msgs:
        client.request("POST", "/me/sendMail", json={"message": m.graph_message()}, retry=False)
    base = time.perf_counter() - t
    faults.reset()
    return {
        "recipients": n,
        "added_latency_ms": LATENCY_MS,
        "seconds": round(elapsed, 3),
        "http_requests": requests_made,
        "sent": counts["sent"],
        "in_mailbox": sum(delivered.values()),
        "each_to_one_recipient": all(v == 1 for v in delivered.values()),
        "landing_200_of_10": landing_ok,
        "baseline_single_sendmail_seconds": round(base, 3),
        "ratio_vs_baseline": round(elapsed / base, 3),
    }


def bench_faults(
    env: Env, comp: Composition, root: Path, n: int, *, exactly_once: bool
) -> dict[str, Any]:
    before = env.mailbox()
    faults = env.ms.graph_server.faults
    client = env.graph(exactly_once=exactly_once)
    with Outbox(root / f"faults-{exactly_once}.db") as box:
        job = box.add_job(comp, people(n), entry_id=env.entry_id, exactly_once=exactly_once)
        faults.clear_log()
        faults.configure(
            FaultConfig(failure_rate=0.3, failure_modes=["500", "reset", "lost_response"],
                        match=r"/\$batch$", seed=4 if exactly_once else 51)
        )  # fmt: skip
        t = time.perf_counter()
        transport = GraphTransport(client, verify_delay=0.0)
        Pump(box, transport, env.link, backoff_base=0.01, max_attempts=40).run()
        elapsed = time.perf_counter() - t
        faults.reset()
        msgs = box.messages(job)
    injected = Counter(r.fault for r in faults.request_log(r"/\$batch$") if r.fault)
    delivered = env.mailbox() - before
    states = Counter(m.state for m in msgs)
    lost = sum(1 for m in msgs if m.state != "unknown" and delivered[m.recipient.email] != 1)
    return {
        "recipients": n,
        "seconds": round(elapsed, 3),
        "faults_injected": dict(injected),
        "states": dict(states),
        "lost": lost,
        "duplicated": sum(1 for v in delivered.values() if v > 1),
        "unknown_delivered": sum(
            1 for m in msgs if m.state == "unknown" and delivered[m.recipient.email]
        ),
        "batch_requests": len(faults.request_log(r"/\$batch$")),
    }


def _restart_trial(
    sandbox: Any, root: Path, take: Path, trial: int, n: int, *, exactly_once: bool, seed: int
) -> dict[str, Any]:
    """One crash: kill ``vmsg send`` after a random number of deliveries, run it again."""
    import os
    import random
    import signal
    import subprocess

    home = root / f"restart-home-{exactly_once}-{trial}"
    env = dict(os.environ, VMSG_SANDBOX_DIR=str(sandbox.data_dir))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        (home / var).mkdir(parents=True)
        env[var] = str(home / var)
    settings = home / "XDG_CONFIG_HOME" / "video-messaging" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        json.dumps(
            {"schema_version": 2, "allow_plaintext_token_cache": True,
             "exactly_once_sending": exactly_once}
        )
    )  # fmt: skip
    tag = f"{'eo' if exactly_once else 'sm'}{trial}"
    people_ = [f"R{i:03d} <{tag}-p{i:03d}@fabrikam.example>" for i in range(n)]
    argv = [sys.executable, "-m", "app", "send", str(take)]
    argv += [x for p in people_ for x in ("--to", p)]
    sender = sandbox.manifest["senders"][0]["email"]

    def delivered() -> Counter[str]:
        return Counter(
            r["message"]["toRecipients"][0]["emailAddress"]["address"]
            for r in sandbox.microsoft.graph.sent_messages(sender)
            if r["message"]["toRecipients"][0]["emailAddress"]["address"].startswith(tag + "-")
        )

    kill_after = random.Random(seed).randint(5, n - 10)
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while sum(delivered().values()) < kill_after and first.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    killed_at = sum(delivered().values())
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    t = time.perf_counter()
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    rerun_s = time.perf_counter() - t
    lines = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    states = {line["address"]: line["state"] for line in lines}
    got = delivered()
    emails = [p.split("<")[1].rstrip(">") for p in people_]
    # Lost: nothing arrived and the user was not told (unknown and failed are told).
    lost = [e for e in emails if got[e] == 0 and states.get(e) not in ("unknown", "failed")]
    unknown_causes = Counter(line.get("error", "") for line in lines if line["state"] == "unknown")
    return {
        "killed_after_deliveries": killed_at,
        "rerun_seconds": round(rerun_s, 2),
        "rerun_said_resumed": "this send was started before" in again.stderr,
        "states": dict(Counter(line["state"] for line in lines)),
        "lost": len(lost),
        "duplicated": sum(1 for v in got.values() if v > 1),
        "unknown": sum(unknown_causes.values()),
        "unknown_causes": dict(unknown_causes),
    }


def bench_restart(root: Path, take: Path, n: int, kills: int) -> dict[str, Any]:
    from app.sandbox.httpd import FaultConfig as Faults
    from app.workflow import sandbox as sandbox_host

    sandbox = sandbox_host.start(root / "restart-sandbox", directory_size=300)
    out: dict[str, Any] = {"recipients": n, "kills": kills, "failure_rate": 0.3}
    try:
        faults = sandbox.microsoft.graph_server.faults
        for exactly_once in (False, True):
            trials = []
            for trial in range(kills):
                faults.configure(
                    Faults(failure_rate=0.3, failure_modes=["500", "reset", "lost_response"],
                           match=r"/\$batch$", seed=100 + trial)
                )  # fmt: skip
                trials.append(
                    _restart_trial(
                        sandbox, root, take, trial, n, exactly_once=exactly_once, seed=trial
                    )
                )
                faults.reset()
            key = "exactly_once" if exactly_once else "sendmail"
            causes: Counter[str] = Counter()
            for t in trials:
                causes.update(t["unknown_causes"])
            out[key] = {
                "lost": sum(t["lost"] for t in trials),
                "duplicated": sum(t["duplicated"] for t in trials),
                "unknown": sum(t["unknown"] for t in trials),
                "unknown_causes": dict(causes),
                "killed_after_deliveries": [t["killed_after_deliveries"] for t in trials],
                "rerun_seconds": [t["rerun_seconds"] for t in trials],
                "every_rerun_said_it_resumed": all(t["rerun_said_resumed"] for t in trials),
                "states": [t["states"] for t in trials],
            }
        out["target_lost_and_duplicated_0"] = all(
            out[k]["lost"] == 0 and out[k]["duplicated"] == 0 for k in ("sendmail", "exactly_once")
        )
    finally:
        sandbox.stop()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MIME_SHAPE = ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/gif"]


def bench_smtp(comp: Composition, root: Path, n: int) -> dict[str, Any]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(bytes(envelope.original_content or envelope.content))
            return "250 OK"

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=isinstance(data, LoginPassword) and data.password == b"pw")

    paths = ensure_certificates(root / "certs")
    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port,
                     tls_context=server_ssl_context(paths), require_starttls=True,
                     authenticator=auth, auth_required=True)  # fmt: skip
    ctl.start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(paths.ca_file))
        transport = SmtpTransport("127.0.0.1", port, security="starttls", username="u",
                                  password="pw", ssl_context=client_ctx)  # fmt: skip
        with Outbox(root / "smtp.db") as box:
            job = box.add_job(comp, people(n), transport="smtp", entry_id="1_abc")
            t = time.perf_counter()
            Pump(box, transport, lambda e, tok, nm: f"https://v.example/{e}?r={tok}").run()
            elapsed = time.perf_counter() - t
            sent = box.counts(job)["sent"]
        got = len(received)
        wellformed = 0
        for raw in received:
            msg = BytesParser(policy=email.policy.default).parsebytes(raw)
            parts = [p.get_content_type() for p in msg.walk()]
            if not msg.defects and parts[:5] == MIME_SHAPE:
                wellformed += 1
        # Baseline: the same messages, prebuilt, through bare smtplib on one connection.
        import smtplib

        catalog = TemplateCatalog()
        mimes = [
            to_mime(build_message(comp, r, "https://v.example/x", local_id=str(i), catalog=catalog))
            for i, r in enumerate(people(n))
        ]
        t = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.starttls(context=client_ctx)
            s.login("u", "pw")
            for m in mimes:
                s.send_message(m)
        base = time.perf_counter() - t
    finally:
        ctl.stop()
    return {"recipients": n, "seconds": round(elapsed, 3), "sent": sent, "received": got,
            "wellformed_mime": wellformed, "baseline_smtplib_seconds": round(base, 3),
            "ratio_vs_baseline": round(elapsed / base, 3)}  # fmt: skip


def bench_first_frame(take: Path, n: int) -> dict[str, Any]:
    from app.recorder.media import gif_preview

    t = time.perf_counter()
    shared = gif_preview(take)
    shared_s = time.perf_counter() - t
    times = []
    for i in range(n):
        t = time.perf_counter()
        gif_preview(take, first_frame_text=f"Hi Guest{i:03d}")
        times.append(time.perf_counter() - t)
    per = statistics.median(times)
    return {"shared_gif_seconds": round(shared_s, 3), "shared_gif_bytes": len(shared),
            "per_recipient_seconds": round(per, 3), "extra_seconds_for_50": round(per * 50, 1),
            "samples": n}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer recipients and samples")
    parser.add_argument("--only", choices=["restart"], help="run just this measurement")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="vmsg-bench-send-"))
    result: dict[str, Any] = {"benchmark": "send", "quick": args.quick}
    if args.only == "restart":
        try:
            (root / "restart").mkdir()
            result["restart_200"] = bench_restart(
                root, make_take(root / "restart", 2.0), 60 if args.quick else 200,
                3 if args.quick else 10,
            )  # fmt: skip
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps(result))
        return 0
    try:
        take = make_take(root, 5.0)
        from app.recorder.media import gif_preview

        gif = gif_preview(take, first_frame_text="Hi there")
        env = Env(root)
        try:
            sender = Sender(email=env.sender["email"], name=env.sender["name"],
                            signature_html="<p><b>Adele Vance</b><br>Contoso</p>")  # fmt: skip
            comp = Composition(
                sender=sender, video_title="Benchmark video", template="sales-follow-up",
                note="A short note.\nWith two lines.",
                cta=check_cta("Book a call", "https://cal.contoso.example/adele"),
                preview=inline_preview(gif), duration_seconds=5,
            )  # fmt: skip
            result["preview_gif_bytes"] = len(gif)
            result["render"] = bench_render(comp, 20 if args.quick else 100)
            result["graph_50"] = bench_graph_50(env, comp, root, 50)
            n_faults = 60 if args.quick else 200
            result["graph_faults_200"] = bench_faults(env, comp, root, n_faults, exactly_once=False)
            result["graph_faults_200_exactly_once"] = bench_faults(
                env, replace(comp, template="personal-note"), root, n_faults, exactly_once=True
            )
        finally:
            env.stop()
        (root / "restart").mkdir()
        result["restart_200"] = bench_restart(
            root, make_take(root / "restart", 2.0), 60 if args.quick else 200,
            3 if args.quick else 10,
        )  # fmt: skip
        result["smtp_50"] = bench_smtp(comp, root, 50)
        result["first_frame"] = bench_first_frame(take, 2 if args.quick else 5)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
