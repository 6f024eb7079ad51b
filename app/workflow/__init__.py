"""The workflow every front end shares: record, upload while recording, compose, send.

No Qt, no terminal: blocking methods that take a cancel ``threading.Event``, and one event
callback (``on_event``) that may be called from any thread and must neither block nor
raise (:mod:`.events`). The command line (``app.cli``) and the desktop app (``app.ui``)
both drive exactly this:

- :mod:`.services`: :class:`~.services.Services`, one profile's endpoints, sign-in, Graph,
  Kaltura, uploads, outbox and transports, opened once and closed once;
- :mod:`.take`: :class:`~.take.TakeSession`, one take with upload while recording, the
  link before stop, trim that replaces the entry's content, discard;
- :mod:`.send`: :class:`~.send.SendSession`, checks first, then one personal message per
  recipient, reusing the take's entry or an earlier upload of the same file;
- :mod:`.uploads`: :class:`~.uploads.UploadRecipe`, the one way a video reaches Kaltura;
- :mod:`.startup`: :func:`~.startup.reconcile`, crash recovery, pending uploads, the
  outbox, in that order;
- :mod:`.monitor`: :class:`~.monitor.DeviceMonitor`, the live picture and level meter
  between takes (nothing recorded);
- :mod:`.history`: what was sent, each recipient's state and the actions allowed, and who
  watched (:class:`~.history.ViewWatcher`);
- :mod:`.sandbox`: the built-in sandbox, found running or started and stopped here;
- :mod:`.demo` and :mod:`.doctor`: the demo flow and the setup checks.
"""
