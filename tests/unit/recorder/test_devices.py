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


def _cams(*names: str, backend: str = "MSMF") -> list[devices.Device]:
    return [
        devices.Device(devices.device_id(backend, n, i), n, "camera", backend=backend, index=i)
        for i, n in enumerate(names)
    ]


def test_a_saved_camera_survives_a_reordered_device_list() -> None:
    before = _cams("Integrated Camera", "HD Pro Webcam C920", "OBS Virtual Camera")
    saved = before[1].id  # the person chose the C920: stored as "MSMF:HD Pro Webcam C920#1"
    # Unplugged and plugged in again: Windows numbers the cameras differently now.
    after = _cams("HD Pro Webcam C920", "OBS Virtual Camera", "Integrated Camera")
    found = devices.find(saved, after)
    assert found is not None and found.name == "HD Pro Webcam C920" and found.index == 0
    # One more camera plugged in before it: still found by name.
    more = _cams("Logitech BRIO", "Integrated Camera", "HD Pro Webcam C920")
    assert devices.find(saved, more) == more[2]
    # Gone: not silently replaced by another camera.
    assert devices.find(saved, _cams("Integrated Camera")) is None


def test_two_cameras_of_the_same_name_are_told_apart_by_index() -> None:
    same = _cams("USB Camera", "USB Camera")
    assert devices.find(same[1].id, same) == same[1]
    assert devices.find(same[0].id, same) == same[0]


def test_a_camera_that_moved_to_the_other_windows_api_is_still_found() -> None:
    saved = _cams("OBS Virtual Camera", backend="DSHOW")[0].id
    now = _cams("OBS Virtual Camera", backend="MSMF")
    assert devices.find(saved, now) == now[0]


def test_a_saved_microphone_survives_a_reordered_device_list() -> None:
    def mics(*names: str) -> list[devices.Device]:
        return [
            devices.Device(
                devices.device_id("WASAPI", n, i + 3),
                n,
                "microphone",
                backend="WASAPI",
                index=i + 3,
            )
            for i, n in enumerate(names)
        ]

    before = mics("Microphone (Realtek(R) Audio)", "Headset Microphone (Jabra Evolve2 65)")
    saved = before[1].id
    after = mics("Headset Microphone (Jabra Evolve2 65)", "Microphone (Realtek(R) Audio)")
    assert devices.find(saved, after) == after[0]


def test_older_settings_and_typed_names_still_choose() -> None:
    cams = _cams("Integrated Camera", "HD Pro Webcam C920")
    assert devices.find("1", cams) == cams[1]  # a bare index, as settings kept it before ids
    assert devices.find("C920", cams) == cams[1]  # part of a name, when it is unique
    assert devices.find("Camera", _cams("Camera A", "Camera B")) is None  # ambiguous
    assert devices.find("HD Pro Webcam C920", cams) == cams[1]


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("V4L2:Cam #2: USB#1", ("V4L2", "Cam #2: USB", 1)),
        ("WASAPI:Microphone (USB)#12", ("WASAPI", "Microphone (USB)", 12)),
        ("COREAUDIO:MacBook Pro Microphone", ("COREAUDIO", "MacBook Pro Microphone", -1)),
        ("file:/tmp/a#1.mp4", None),
        ("synthetic:pattern=black", None),
        ("0", None),
        (":x#1", None),
    ],
)
def test_device_ids(spec: str, parsed: tuple[str, str, int] | None) -> None:
    assert devices.parse_id(spec) == parsed


def test_a_saved_camera_that_is_not_connected_is_said_so() -> None:
    with pytest.raises(DeviceError, match="The camera 'Gone Cam' is not connected"):
        devices.make_camera("V4L2:Gone Cam#0")
    with pytest.raises(DeviceError, match="The microphone 'Gone Mic' is not connected"):
        devices.make_microphone("ALSA:Gone Mic#7")


def test_file_and_test_sources_are_described_for_the_list() -> None:
    cam = devices.describe("file:/tmp/clip.mp4", "camera")
    assert cam is not None and (cam.name, cam.backend) == ("clip.mp4", "FILE")
    assert devices.describe("synthetic", "microphone") is not None
    assert devices.describe("MSMF:Cam#0", "camera") is None


@pytest.mark.parametrize(
    ("api", "tag"),
    [("Windows WASAPI", "WASAPI"), ("Core Audio", "COREAUDIO"), ("ALSA", "ALSA"),
     ("Some New API", "SOMENEWAPI")],
)  # fmt: skip
def test_host_api_tags(api: str, tag: str) -> None:
    assert devices.host_api_tag(api) == tag
    assert devices.parse_id(devices.device_id(tag, "Mic", 1)) == (tag, "Mic", 1)


def _pa(name: str, api: int, inputs: int = 2, rate: float = 48000.0) -> dict[str, object]:
    return {"name": name, "hostapi": api, "max_input_channels": inputs,
            "default_samplerate": rate}  # fmt: skip


# What PortAudio lists on a Windows laptop with a headset: every microphone once per host
# API (MME truncates names to 31 characters), plus outputs.
WINDOWS_APIS = [
    {"name": n} for n in ("MME", "Windows DirectSound", "Windows WASAPI", "Windows WDM-KS")
]
WINDOWS_DEVICES = [
    _pa("Microsoft Sound Mapper - Input", 0),
    _pa("Microphone (Realtek(R) Audio)", 0),
    _pa("Headset Microphone (Jabra Evol", 0),
    _pa("Speakers (Realtek(R) Audio)", 0, inputs=0),
    _pa("Primary Sound Capture Driver", 1),
    _pa("Microphone (Realtek(R) Audio)", 1),
    _pa("Headset Microphone (Jabra Evolve2 65)", 1),
    _pa("Microphone (Realtek(R) Audio)", 2, rate=44100.0),
    _pa("Headset Microphone (Jabra Evolve2 65)", 2, inputs=1, rate=16000.0),
    _pa("Speakers (Realtek(R) Audio)", 2, inputs=0),
    _pa("Microphone Array (Realtek HD Audio Mic input)", 3),
    _pa("Headset Microphone (Jabra Evolve2 65)", 3, inputs=1),
]


def test_windows_microphones_are_listed_once_each_through_wasapi() -> None:
    mics = devices.inputs_once(WINDOWS_DEVICES, WINDOWS_APIS)
    assert [(m.name, m.backend, m.index) for m in mics] == [
        ("Microphone (Realtek(R) Audio)", "WASAPI", 7),
        ("Headset Microphone (Jabra Evolve2 65)", "WASAPI", 8),
    ]
    # A name alone now chooses one device (it used to match under four host APIs).
    assert devices.find("Jabra", mics) == mics[1]


def test_without_wasapi_the_next_host_api_is_used() -> None:
    mics = devices.inputs_once(WINDOWS_DEVICES[:4], WINDOWS_APIS[:1])
    assert {m.backend for m in mics} == {"MME"} and len(mics) == 3


def test_alsa_routes_to_the_sound_server_are_listed_once() -> None:
    apis = [{"name": "ALSA"}, {"name": "JACK Audio Connection Kit"}]
    listed = [
        _pa("HDA Intel PCH: ALC892 Analog (hw:0,0)", 0),
        _pa("sysdefault", 0),
        _pa("pulse", 0, inputs=32),
        _pa("default", 0, inputs=32),
        _pa("system", 1),
    ]
    names = [m.name for m in devices.inputs_once(listed, apis)]
    assert names == ["HDA Intel PCH: ALC892 Analog (hw:0,0)", "pulse"]
    # Without a sound server, ALSA's default is the only way to the default input: kept.
    bare = [_pa("HDA Intel PCH: ALC892 Analog (hw:0,0)", 0), _pa("default", 0)]
    assert [m.name for m in devices.inputs_once(bare, apis[:1])] == [b["name"] for b in bare]
