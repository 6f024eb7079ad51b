"""The recorder: camera and microphone to a crash-safe, in-sync H.264/AAC fragmented MP4.

Plain Python, no Qt. Capture, encoding and muxing are stages joined by bounded queues;
health problems are typed events; the preview is a one-slot latest-frame buffer.

Where things are (imported on demand: this package stays cheap to import for ``doctor``):

- ``recorder.Recorder`` / ``TakeResult``: one take (start, pause, resume, stop, events);
- ``sources`` (interfaces), ``synthetic`` (test-pattern camera, beep microphone),
  ``camera`` (OpenCV webcams, file camera), ``microphone`` (sounddevice), ``devices``
  (enumeration and ``--camera``/``--mic`` specs);
- ``clock`` (the one recording clock), ``align`` (audio on that clock), ``muxer``
  (PyAV fragmented MP4), ``health`` and ``events``, ``preview``, ``presets``;
- ``sidecar`` (per-take state file), ``recovery`` (find and finalize interrupted takes);
- ``media`` (probe, thumbnail, GIF preview, trim), ``sync`` (A/V sync analyzer),
  ``preflight`` (the 2 s device check), ``player`` (playing a take back with sound, for
  review and trimming).
"""
