"""Devices in the window: a saved choice is found again by name, and one that is not
connected is shown as such (never silently replaced by another device)."""

from __future__ import annotations

from typing import Any

from app.recorder.devices import Device, device_id


def _cams(*names: str) -> list[Device]:
    return [Device(device_id("MSMF", n, i), n, "camera", backend="MSMF", index=i)
            for i, n in enumerate(names)]  # fmt: skip


def test_a_saved_camera_is_chosen_again_after_the_os_renumbered_it(desktop_factory: Any) -> None:
    saved = _cams("Integrated Camera", "HD Pro Webcam C920")[1].id  # "MSMF:HD Pro Webcam C920#1"
    app = desktop_factory(settings={"recording": {"camera": saved, "microphone": "synthetic"}})
    pickers = app.window.record.pickers
    now = _cams("HD Pro Webcam C920", "Integrated Camera")  # plugged in again: renumbered
    pickers.fill(now, [])
    assert pickers.camera.currentText() == "HD Pro Webcam C920"
    assert pickers.camera.currentData() == now[0].id
    assert pickers.camera.findText("HD Pro Webcam C920 (not connected)") < 0


def test_a_saved_camera_that_is_not_connected_says_so(desktop_factory: Any) -> None:
    saved = _cams("HD Pro Webcam C920")[0].id
    app = desktop_factory(settings={"recording": {"camera": saved, "microphone": "synthetic"}})
    pickers = app.window.record.pickers
    pickers.fill(_cams("Integrated Camera"), [])
    assert pickers.camera.currentText() == "HD Pro Webcam C920 (not connected)"
    assert pickers.camera.currentData() == saved  # kept: it works again when plugged in
