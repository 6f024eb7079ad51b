import pytest

from app.errors import DeviceError
from app.recorder import devices
from app.recorder.camera import FileCamera
from app.recorder.synthetic import SyntheticCamera, SyntheticMicrophone


def test_synthetic_specs() -> None:
    cam = devices.make_camera("synthetic:pattern=black,lost_after=3")
    assert isinstance(cam, SyntheticCamera) and cam.pattern == "black" and cam.lost_after == 3
    mic = devices.make_microphone("synthetic:skew=-1%,jitter=5ms,level=silent")
    assert isinstance(mic, SyntheticMicrophone)
    assert (mic.skew, mic.jitter, mic.level) == (-0.01, 0.005, "silent")
    assert devices.make_microphone("none") is None
    assert isinstance(devices.make_camera("file:/tmp/x.mp4"), FileCamera)


@pytest.mark.parametrize("spec", ["synthetic:pattern=plaid", "synthetic:lost_after=soon"])
def test_bad_synthetic_camera_options(spec: str) -> None:
    with pytest.raises(DeviceError, match="Bad synthetic camera options"):
        devices.make_camera(spec)


def test_bad_synthetic_mic_options() -> None:
    with pytest.raises(DeviceError, match="Bad synthetic microphone options"):
        devices.make_microphone("synthetic:level=loud")
