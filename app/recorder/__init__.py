"""The recorder: camera and microphone to a crash-safe, in-sync H.264/AAC fragmented MP4.

Plain Python, no Qt. Capture, encoding and muxing are stages joined by bounded queues;
health problems are typed events; the preview is a one-slot latest-frame buffer.
"""
