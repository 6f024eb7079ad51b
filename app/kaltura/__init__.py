"""Kaltura: app-token sessions, resumable uploads while recording, entries and links.

Plain Python, no Qt. The pieces, each taking its collaborators as arguments:

- ``client.KalturaClient``: the API v3 wire layer (JSON, multipart uploads, TLS 1.2+, typed
  errors from ``errors``).
- ``session.KalturaSession``: a person's KS (app token, login, or the sandbox's admin
  secret), renewed transparently; it is the ``Caller`` everything else uses.
- ``uploader.Uploader`` / ``UploadJob``: resumable uploads that follow a growing recording,
  built from ``upload_state`` (what a job writes down), ``file_guard`` (the local file and
  its identity checks), ``upload_calls`` (the Kaltura calls) and ``retry`` (the one retry
  helper, interrupted at once by a cancel).
- ``entries``: entry state, waiting, plays/views, categories. ``links``: landing and
  thumbnail URLs.

Upload while recording (what ``app.workflow.take`` does)::

    uploader = Uploader(session, state_dir=state_dir, on_event=ui_callback, owner=account)
    job = uploader.begin(take_path, EntryMetadata(name=title), growing=True, fed=True)
    entry_id = job.wait_entry()          # the entry and its share link exist now
    job.feed(event.bytes)                # for each of the recorder's FileGrew events
    job.finish(final_size=take.size)     # at stop: upload the tail, finalize
    job.wait()                           # returns when every byte is confirmed

At start-up, ``uploader.resume_pending()`` continues every interrupted upload of that owner
(``app.workflow.startup`` calls it after the recorder's crash recovery).
"""
