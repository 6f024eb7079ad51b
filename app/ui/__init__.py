"""The desktop app; all of the application's Qt code lives in this package, and nowhere else.

It drives the workflow (``app.workflow``) exactly as the command line does and never
imports the command line. Where things are:

- ``entry`` / ``commands``: ``video-messaging`` and ``vmsg gui`` (single instance, signals);
- ``app``: :class:`~app.ui.app.DesktopApp`, the window, tray, take, services and task pool;
- ``tasks``: the one way blocking work runs (a thread pool, results as signals);
- ``recording``: the take shared by the window, the quick recorder and the tray;
- ``mainwindow`` and ``pages/`` (record, review, compose, sent, history), ``quick_record``,
  ``tray``, ``settings_dialog``, ``wizard``;
- ``widgets/``: live preview, level meter, trim slider, recipient chips;
- ``banner`` (errors with their next step as a button), ``theme`` (light and dark),
  ``icons`` (SVG), ``hotkey`` (global shortcut), ``permissions`` (camera and
  microphone privacy pages), ``single_instance``, ``crash`` (the crash dialog).
"""
