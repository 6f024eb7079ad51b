"""A separate process that uploads one file and prints the result as JSON (restart tests).

``python -m tests.integration.kaltura.upload_child URL PID TOKEN_ID TOKEN HASH STATE_DIR FILE
CHUNK`` uploads FILE, resuming the job in STATE_DIR if one exists for it, exactly as the app
does at start-up (``Uploader.resume_pending`` / ``begin`` with ``resume_existing``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.kaltura.client import KalturaClient
from app.kaltura.policy import Backoff, ChunkPolicy
from app.kaltura.session import AppTokenCredentials, KalturaSession
from app.kaltura.uploader import EntryMetadata, Uploader


def main(argv: list[str]) -> int:
    url, pid, token_id, token, hash_type, state_dir, file, chunk = argv
    client = KalturaClient(url, partner_id=int(pid))
    session = KalturaSession(
        client, AppTokenCredentials(token_id, token, hash_type), user_id="ada@example.com"
    )
    n = int(chunk)
    uploader = Uploader(
        session,
        state_dir=Path(state_dir),
        policy_factory=lambda: ChunkPolicy(min_chunk=n, initial_chunk=n, max_chunk=n),
        backoff_factory=lambda: Backoff(base=0.01, cap=0.1),
    )
    pending = uploader.resume_pending()
    job = pending[0] if pending else uploader.begin(Path(file), EntryMetadata(name="restart"))
    print(json.dumps({"event": "started", "entry_id": job.wait_entry(30)}), flush=True)
    result = job.wait()
    print(
        json.dumps(
            {
                "event": "done",
                "entry_id": result.entry_id,
                "token_id": result.token_id,
                "resumed_from": result.resumed_from,
                "resumed": bool(pending),
                "bytes_sent": result.bytes_sent,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
