import numpy as np

from app.recorder.preview import LatestFrame


def test_latest_frame_and_sequence() -> None:
    slot = LatestFrame()
    assert slot.get() is None
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.ones((2, 3, 3), np.uint8)
    slot.put(a)
    slot.put(b)
    got = slot.get()
    assert got is not None and got[0] is b and got[1] == 2


def test_mirror_flips_for_the_reader_only() -> None:
    slot = LatestFrame(mirror=True)
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    slot.put(img)
    got = slot.get()
    assert got is not None
    assert (got[0][:, 0] == img[:, 2]).all()
    assert img[0, 0, 0] == 0  # the original is untouched
