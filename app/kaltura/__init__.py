"""Kaltura: app-token sessions, resumable uploads while recording, entries and links.

Plain Python, no Qt. The pieces, each taking its collaborators as arguments:

- ``client.KalturaClient``: the API v3 wire layer (JSON, multipart uploads, TLS 1.2+, typed
  errors from ``errors``).
- ``session.KalturaSession``: a person's KS (app token, login, or the sandbox's admin
  secret), renewed transparently; it is the ``Caller`` everything else uses.
- ``uploader.Uploader`` / ``UploadJob``: resumable uploads that follow a growing recording.
- ``entries``: entry state, waiting, plays/views, categories. ``links``: landing and
  thumbnail URLs. ``cli``: ``vmsg upload``.

Upload while recording (what the recorder or ``vmsg record --upload`` does)::

    uploader = Uploader(session, state_dir=paths.data_dir() / "uploads", on_event=ui_callback)
    job = uploader.begin(take_path, EntryMetadata(name=title), growing=True)
    entry_id = job.wait_entry()          # the entry and its share link exist now
    ...                                  # the recorder appends fragments
    job.finish(final_size=take.size)     # at stop: upload the tail, finalize
    job.wait()                           # returns when every byte is confirmed

At start-up, ``uploader.resume_pending()`` continues every interrupted upload (call it after
the recorder's crash recovery has settled the files it recovers).
"""
