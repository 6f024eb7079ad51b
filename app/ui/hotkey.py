"""A global shortcut for a quick recording: it works while another application has focus.

:class:`GlobalHotkey` holds at most one key combination (``"Ctrl+Alt+R"``, parsed by
:class:`QKeySequence` in its portable form) and emits ``activated`` on the GUI thread each
time it is pressed. Each OS has its own way, behind one small seam (:func:`open_backend`):

- **Windows**: ``RegisterHotKey`` on the GUI thread; the ``WM_HOTKEY`` message it posts is
  seen by a :class:`QAbstractNativeEventFilter` (``windows_generic_MSG``). No permission.
- **macOS**: Carbon's ``RegisterEventHotKey`` and an event handler on the application
  target. No Accessibility permission (event taps would need it, and fail silently).
- **X11**: ``XGrabKey`` on the root window over a connection of its own
  (``XOpenDisplay``), so it only needs ``DISPLAY``, whatever Qt's platform is (offscreen
  in the tests). The grab is made once per lock combination (Caps Lock, Num Lock), a
  thread waits on the connection and reads the key presses, and a queued signal brings
  them to the GUI thread. A combination another client holds fails with BadAccess, caught
  by an Xlib error handler around the grab and reported as taken.
- **Wayland**, or no display at all: no app can register a global shortcut;
  :attr:`GlobalHotkey.reason` says so and names the command a system shortcut can run.

:meth:`GlobalHotkey.register` never raises: when a combination cannot be registered it
returns False and :attr:`~GlobalHotkey.reason` says why, in words for the settings page.
The pure mappings from a sequence to each OS's codes (:func:`windows_hotkey`,
:func:`macos_hotkey`, :func:`x11_hotkey`) are testable anywhere; the OS libraries are only
loaded inside the backend that needs them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import logging
import os
import select
import socket
import string
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from PySide6.QtCore import (
    QAbstractNativeEventFilter,
    QByteArray,
    QCoreApplication,
    QKeyCombination,
    QObject,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeySequence

log = logging.getLogger(__name__)

#: What a system shortcut runs where the app cannot register one itself (Wayland): the
#: launch reaches the running app (single instance), which starts a quick recording.
QUICK_RECORD_COMMAND = "video-messaging --quick-record"

_BIND_IT_YOURSELF = f"Bind a system shortcut to: {QUICK_RECORD_COMMAND}"

_PORTABLE = QKeySequence.SequenceFormat.PortableText
_NATIVE = QKeySequence.SequenceFormat.NativeText
_MOD = Qt.KeyboardModifier


class HotkeyError(Exception):
    """A shortcut cannot be used or registered; ``str()`` is the text for the user."""


# --------------------------------------------------------------------------- sequences


@dataclass(frozen=True)
class Chord:
    """One key combination: the modifiers and the key, as Qt names them.

    Qt's ``Ctrl`` is the Command key on macOS and ``Meta`` is Control there; elsewhere
    ``Meta`` is the Windows (Super) key. The mappings below follow that convention.
    """

    modifiers: Qt.KeyboardModifier
    key: Qt.Key

    @property
    def portable(self) -> str:
        """``"Ctrl+Alt+R"``: the form to store in settings (the same on every OS)."""
        return self._sequence().toString(_PORTABLE)

    @property
    def text(self) -> str:
        """The combination as this OS writes it (``⌥⌘R`` on macOS), for messages."""
        return self._sequence().toString(_NATIVE)

    def _sequence(self) -> QKeySequence:
        return QKeySequence(self.modifiers | self.key)


def _f_key(n: int) -> Qt.Key:
    return Qt.Key(Qt.Key.Key_F1.value + n - 1)


_LETTERS = string.ascii_uppercase
_FUNCTION_KEYS = {_f_key(n) for n in range(1, 36)}
_MODIFIER_KEYS = {
    Qt.Key.Key_Control,
    Qt.Key.Key_Shift,
    Qt.Key.Key_Alt,
    Qt.Key.Key_Meta,
    Qt.Key.Key_AltGr,
    Qt.Key.Key_Super_L,
    Qt.Key.Key_Super_R,
    Qt.Key.Key_CapsLock,
    Qt.Key.Key_NumLock,
    Qt.Key.Key_ScrollLock,
}


def parse_sequence(sequence: str) -> Chord:
    """The one key combination ``sequence`` names (Qt's portable text, ``"Ctrl+Alt+R"``).

    Raises :class:`HotkeyError` for text that is no key combination, for multi-step
    sequences, and for a key without Ctrl, Alt or Meta (a function key aside): a global
    shortcut on a plain letter would take that letter from every other application.
    """
    keys = QKeySequence.fromString(sequence.strip(), _PORTABLE)
    # QKeySequence[i] is a QKeyCombination; PySide6's stubs do not declare __getitem__.
    first: QKeyCombination | None = cast(Any, keys)[0] if keys.count() else None
    if first is None or first.key() == Qt.Key.Key_unknown:
        raise HotkeyError(f"“{sequence}” is not a key combination (try Ctrl+Alt+R).")
    if keys.count() > 1:
        raise HotkeyError(
            f"“{sequence}” is a sequence of several key presses; a global shortcut must be "
            "one combination, such as Ctrl+Alt+R."
        )
    chord = Chord(first.keyboardModifiers(), first.key())
    if chord.key in _MODIFIER_KEYS:
        raise HotkeyError(f"“{sequence}” has no key besides the modifiers (try Ctrl+Alt+R).")
    if chord.modifiers & _MOD.KeypadModifier:
        raise HotkeyError("Keys on the numeric keypad cannot be used in a global shortcut.")
    strong = _MOD.ControlModifier | _MOD.AltModifier | _MOD.MetaModifier
    if not chord.modifiers & strong and chord.key not in _FUNCTION_KEYS:
        raise HotkeyError(
            f"{chord.text} needs Ctrl or Alt as well: on its own it would take that key "
            "from every other application."
        )
    return chord


def _code(table: Mapping[Qt.Key, int], chord: Chord, system: str) -> int:
    try:
        return table[chord.key]
    except KeyError:
        raise HotkeyError(
            f"{chord.text} cannot be a global shortcut on {system}: use a letter, a digit or "
            "a function key with Ctrl or Alt."
        ) from None


def _named_keys(**codes: int) -> dict[Qt.Key, int]:
    return {getattr(Qt.Key, f"Key_{name}"): code for name, code in codes.items()}


# Windows: virtual-key codes (winuser.h). VK_A..VK_Z and VK_0..VK_9 are the ASCII codes and
# follow the keyboard layout; VK_F1 is 0x70.
MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
_WINDOWS_KEYS: dict[Qt.Key, int] = {
    **{Qt.Key(ord(c)): ord(c) for c in _LETTERS + string.digits},
    **{_f_key(n): 0x6F + n for n in range(1, 25)},
    **_named_keys(
        Space=0x20, Tab=0x09, Return=0x0D, Escape=0x1B, Backspace=0x08, Delete=0x2E,
        Insert=0x2D, Home=0x24, End=0x23, PageUp=0x21, PageDown=0x22, Left=0x25, Up=0x26,
        Right=0x27, Down=0x28, Print=0x2C, Pause=0x13,
    ),
}  # fmt: skip


def windows_hotkey(chord: Chord) -> tuple[int, int]:
    """``(MOD_* flags, virtual-key code)`` for ``RegisterHotKey``."""
    mods = 0
    for qt_mod, flag in (
        (_MOD.ControlModifier, MOD_CONTROL),
        (_MOD.AltModifier, MOD_ALT),
        (_MOD.ShiftModifier, MOD_SHIFT),
        (_MOD.MetaModifier, MOD_WIN),
    ):
        if chord.modifiers & qt_mod:
            mods |= flag
    return mods, _code(_WINDOWS_KEYS, chord, "Windows")


# macOS: Carbon modifier flags and virtual key codes (HIToolbox/Events.h). The kVK_ANSI_*
# codes are key positions on a US keyboard; the backend looks letters and digits up in the
# current layout first (see _MacBackend._layout_keycodes).
CMD_KEY, SHIFT_KEY, OPTION_KEY, CONTROL_KEY = 1 << 8, 1 << 9, 1 << 11, 1 << 12
_MAC_ANSI = {
    "A": 0x00, "S": 0x01, "D": 0x02, "F": 0x03, "H": 0x04, "G": 0x05, "Z": 0x06, "X": 0x07,
    "C": 0x08, "V": 0x09, "B": 0x0B, "Q": 0x0C, "W": 0x0D, "E": 0x0E, "R": 0x0F, "Y": 0x10,
    "T": 0x11, "1": 0x12, "2": 0x13, "3": 0x14, "4": 0x15, "6": 0x16, "5": 0x17, "9": 0x19,
    "7": 0x1A, "8": 0x1C, "0": 0x1D, "O": 0x1F, "U": 0x20, "I": 0x22, "P": 0x23, "L": 0x25,
    "J": 0x26, "K": 0x28, "N": 0x2D, "M": 0x2E,
}  # fmt: skip
_MAC_F_KEYS = (
    0x7A, 0x78, 0x63, 0x76, 0x60, 0x61, 0x62, 0x64, 0x65, 0x6D,
    0x67, 0x6F, 0x69, 0x6B, 0x71, 0x6A, 0x40, 0x4F, 0x50, 0x5A,
)  # fmt: skip
_MAC_KEYS: dict[Qt.Key, int] = {
    **{Qt.Key(ord(c)): code for c, code in _MAC_ANSI.items()},
    **{_f_key(n): code for n, code in enumerate(_MAC_F_KEYS, start=1)},
    **_named_keys(
        Space=0x31, Tab=0x30, Return=0x24, Escape=0x35, Backspace=0x33, Delete=0x75,
        Home=0x73, End=0x77, PageUp=0x74, PageDown=0x79, Left=0x7B, Right=0x7C, Down=0x7D,
        Up=0x7E,
    ),
}  # fmt: skip


def macos_hotkey(chord: Chord) -> tuple[int, int]:
    """``(Carbon modifier flags, kVK key code)`` for ``RegisterEventHotKey``.

    Qt's Ctrl is Command on macOS (``cmdKey``) and Meta is Control (``controlKey``).
    """
    mods = 0
    for qt_mod, flag in (
        (_MOD.ControlModifier, CMD_KEY),
        (_MOD.AltModifier, OPTION_KEY),
        (_MOD.ShiftModifier, SHIFT_KEY),
        (_MOD.MetaModifier, CONTROL_KEY),
    ):
        if chord.modifiers & qt_mod:
            mods |= flag
    return mods, _code(_MAC_KEYS, chord, "macOS")


# X11: modifier masks (X.h) and keysyms (keysymdef.h). Letters are grabbed by their
# lower-case keysym, which XKeysymToKeycode finds in the current layout.
SHIFT_MASK, LOCK_MASK, CONTROL_MASK, MOD1_MASK, MOD2_MASK, MOD4_MASK = 1, 2, 4, 8, 16, 64
_X11_KEYS: dict[Qt.Key, int] = {
    **{Qt.Key(ord(c)): ord(c.lower()) for c in _LETTERS + string.digits},
    **{_f_key(n): 0xFFBE + n - 1 for n in range(1, 36)},
    **_named_keys(
        Space=0x20, Tab=0xFF09, Return=0xFF0D, Escape=0xFF1B, Backspace=0xFF08,
        Delete=0xFFFF, Insert=0xFF63, Home=0xFF50, End=0xFF57, PageUp=0xFF55,
        PageDown=0xFF56, Left=0xFF51, Up=0xFF52, Right=0xFF53, Down=0xFF54, Print=0xFF61,
        Pause=0xFF13,
    ),
}  # fmt: skip


def x11_hotkey(chord: Chord) -> tuple[int, int]:
    """``(modifier mask, keysym)`` for ``XGrabKey`` (Alt is Mod1, Meta/Super is Mod4)."""
    mask = 0
    for qt_mod, flag in (
        (_MOD.ControlModifier, CONTROL_MASK),
        (_MOD.AltModifier, MOD1_MASK),
        (_MOD.ShiftModifier, SHIFT_MASK),
        (_MOD.MetaModifier, MOD4_MASK),
    ):
        if chord.modifiers & qt_mod:
            mask |= flag
    return mask, _code(_X11_KEYS, chord, "X11")


def _taken(chord: Chord) -> HotkeyError:
    return HotkeyError(
        f"{chord.text} is already taken by another application. Choose another shortcut."
    )


# --------------------------------------------------------------------------- backends


class Backend(Protocol):
    """One OS's global shortcuts. Each grab gets a token; a press calls ``on_press(token)``
    (from any thread: the caller queues it to the GUI thread)."""

    def grab(self, chord: Chord) -> int:
        """Register ``chord``; its token. Raises :class:`HotkeyError`."""
        ...

    def release(self, token: int) -> None:
        """Give a registered combination back (unknown tokens are ignored)."""
        ...

    def close(self) -> None:
        """Release everything and stop; idempotent."""
        ...


_tokens = itertools.count(1)  # process-wide: Windows hotkey ids and Carbon ids are per process


def _next_token() -> int:
    return next(_tokens) % 0xBFFF + 1  # RegisterHotKey: applications use 0x0001..0xBFFF


def _load(path: str, system: str) -> ctypes.CDLL:
    loader: Callable[..., ctypes.CDLL] = getattr(ctypes, "WinDLL", ctypes.CDLL)
    try:
        return loader(path, use_last_error=True) if system == "win32" else ctypes.CDLL(path)
    except OSError as exc:
        raise HotkeyError(
            f"Global shortcuts are unavailable: a system library could not be loaded ({exc})."
        ) from exc


# ----- Windows


class _MSG(ctypes.Structure):
    """winuser.h MSG (only the fields up to lParam are read)."""

    _fields_ = (
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint),
        ("wParam", ctypes.c_size_t),
        ("lParam", ctypes.c_ssize_t),
        ("time", ctypes.c_uint32),
        ("pt_x", ctypes.c_int32),
        ("pt_y", ctypes.c_int32),
    )


WM_HOTKEY = 0x0312
ERROR_HOTKEY_ALREADY_REGISTERED = 1409


class _HotkeyMessageFilter(QAbstractNativeEventFilter):
    """Sees every message of the GUI thread's queue; takes the WM_HOTKEY ones that are ours.

    ``RegisterHotKey(NULL, ...)`` posts WM_HOTKEY to the registering thread's queue with
    no window; Qt's dispatcher hands such messages to native filters as
    ``windows_generic_MSG`` before dispatching them.
    """

    def __init__(self, on_hotkey: Callable[[int], bool]) -> None:
        super().__init__()
        self._on_hotkey = on_hotkey

    def nativeEventFilter(
        self, eventType: QByteArray | bytes | bytearray | memoryview, message: int
    ) -> object:
        kind = eventType.data() if isinstance(eventType, QByteArray) else bytes(eventType)
        if kind == b"windows_generic_MSG":
            msg = _MSG.from_address(int(message))
            if msg.message == WM_HOTKEY and self._on_hotkey(int(msg.wParam)):
                return True, 0
        return False, 0


class _WindowsBackend:
    """``RegisterHotKey`` for the GUI thread (create and use it on that thread only)."""

    def __init__(self, on_press: Callable[[int], None]) -> None:
        user32 = _load("user32", "win32")
        self._register_hotkey = user32.RegisterHotKey
        self._register_hotkey.argtypes = (
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
        )
        self._register_hotkey.restype = ctypes.c_int
        self._unregister_hotkey = user32.UnregisterHotKey
        self._unregister_hotkey.argtypes = (ctypes.c_void_p, ctypes.c_int)
        self._unregister_hotkey.restype = ctypes.c_int
        self._get_last_error: Callable[[], int] = getattr(ctypes, "get_last_error", lambda: 0)
        self._on_press = on_press
        self._ids: set[int] = set()
        self._filter: _HotkeyMessageFilter | None = _HotkeyMessageFilter(self._on_hotkey)
        app = QCoreApplication.instance()
        if app is None:
            raise HotkeyError("Global shortcuts need the application to be running.")
        app.installNativeEventFilter(self._filter)

    def _on_hotkey(self, hotkey_id: int) -> bool:
        if hotkey_id not in self._ids:
            return False
        self._on_press(hotkey_id)
        return True

    def grab(self, chord: Chord) -> int:
        mods, vk = windows_hotkey(chord)
        token = _next_token()
        # MOD_NOREPEAT: holding the keys down sends one WM_HOTKEY, not one per repeat.
        if not self._register_hotkey(None, token, mods | MOD_NOREPEAT, vk):
            error = self._get_last_error()
            if error == ERROR_HOTKEY_ALREADY_REGISTERED:
                raise _taken(chord)
            raise HotkeyError(f"Windows refused the shortcut {chord.text} (error {error}).")
        self._ids.add(token)
        return token

    def release(self, token: int) -> None:
        if token in self._ids:
            self._ids.discard(token)
            self._unregister_hotkey(None, token)

    def close(self) -> None:
        for token in list(self._ids):
            self.release(token)
        app = QCoreApplication.instance()
        if self._filter is not None and app is not None:
            app.removeNativeEventFilter(self._filter)
        self._filter = None


# ----- macOS


def _four_cc(code: bytes) -> int:
    return int.from_bytes(code, "big")


class _EventTypeSpec(ctypes.Structure):
    _fields_ = (("eventClass", ctypes.c_uint32), ("eventKind", ctypes.c_uint32))


class _EventHotKeyID(ctypes.Structure):
    _fields_ = (("signature", ctypes.c_uint32), ("id", ctypes.c_uint32))


# OSStatus handler(EventHandlerCallRef, EventRef, void *userData)
_EventHandlerProc = ctypes.CFUNCTYPE(
    ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
)

_CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"
_CORE_SERVICES = "/System/Library/Frameworks/CoreServices.framework/CoreServices"
_CORE_FOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
K_EVENT_CLASS_KEYBOARD = _four_cc(b"keyb")
K_EVENT_HOT_KEY_PRESSED = 5
K_EVENT_PARAM_DIRECT_OBJECT = _four_cc(b"----")
TYPE_EVENT_HOT_KEY_ID = _four_cc(b"hkid")
EVENT_NOT_HANDLED_ERR = -9874
EVENT_HOT_KEY_EXISTS_ERR = -9878
_SIGNATURE = _four_cc(b"VMsg")


class _MacBackend:
    """Carbon hot keys on the application event target (the main thread's run loop)."""

    def __init__(self, on_press: Callable[[int], None]) -> None:
        carbon = _load(_CARBON, "darwin")
        self._carbon = carbon
        carbon.GetApplicationEventTarget.restype = ctypes.c_void_p
        carbon.GetApplicationEventTarget.argtypes = ()
        carbon.InstallEventHandler.argtypes = (
            ctypes.c_void_p,
            _EventHandlerProc,
            ctypes.c_ulong,
            ctypes.POINTER(_EventTypeSpec),
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p),
        )
        carbon.InstallEventHandler.restype = ctypes.c_int32
        carbon.RemoveEventHandler.argtypes = (ctypes.c_void_p,)
        carbon.RemoveEventHandler.restype = ctypes.c_int32
        carbon.RegisterEventHotKey.argtypes = (
            ctypes.c_uint32,
            ctypes.c_uint32,
            _EventHotKeyID,
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.POINTER(ctypes.c_void_p),
        )
        carbon.RegisterEventHotKey.restype = ctypes.c_int32
        carbon.UnregisterEventHotKey.argtypes = (ctypes.c_void_p,)
        carbon.UnregisterEventHotKey.restype = ctypes.c_int32
        carbon.GetEventParameter.argtypes = (
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_uint32,
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_void_p,
            ctypes.c_void_p,
        )
        carbon.GetEventParameter.restype = ctypes.c_int32
        self._on_press = on_press
        self._refs: dict[int, ctypes.c_void_p] = {}
        self._target = carbon.GetApplicationEventTarget()
        # Kept referenced: Carbon calls it for as long as the handler is installed.
        self._handler_proc = _EventHandlerProc(self._on_event)
        spec = _EventTypeSpec(K_EVENT_CLASS_KEYBOARD, K_EVENT_HOT_KEY_PRESSED)
        self._handler: ctypes.c_void_p | None = ctypes.c_void_p()
        status = carbon.InstallEventHandler(
            self._target, self._handler_proc, 1, ctypes.byref(spec), None,
            ctypes.byref(self._handler),
        )  # fmt: skip
        if status != 0:
            raise HotkeyError(f"macOS refused the shortcut handler (error {status}).")

    def _on_event(self, _call: int | None, event: int | None, _data: int | None) -> int:
        hotkey = _EventHotKeyID()
        status = self._carbon.GetEventParameter(
            event, K_EVENT_PARAM_DIRECT_OBJECT, TYPE_EVENT_HOT_KEY_ID, None,
            ctypes.sizeof(hotkey), None, ctypes.byref(hotkey),
        )  # fmt: skip
        if status != 0 or hotkey.signature != _SIGNATURE or hotkey.id not in self._refs:
            return EVENT_NOT_HANDLED_ERR  # another handler's (another GlobalHotkey's)
        try:
            self._on_press(int(hotkey.id))
        except Exception:  # never let an exception unwind into Carbon
            log.exception("global shortcut handler failed")
        return 0

    def _layout_keycodes(self) -> dict[str, int]:
        """Letters and digits → key codes in the current keyboard layout (AZERTY, Dvorak:
        the key that types the letter, not the US position); empty if it cannot be read."""
        try:
            services = ctypes.CDLL(_CORE_SERVICES)
            foundation = ctypes.CDLL(_CORE_FOUNDATION)
            carbon = self._carbon
            carbon.TISCopyCurrentKeyboardLayoutInputSource.restype = ctypes.c_void_p
            carbon.TISGetInputSourceProperty.restype = ctypes.c_void_p
            carbon.TISGetInputSourceProperty.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
            carbon.LMGetKbdType.restype = ctypes.c_uint8
            foundation.CFDataGetBytePtr.restype = ctypes.c_void_p
            foundation.CFDataGetBytePtr.argtypes = (ctypes.c_void_p,)
            foundation.CFRelease.argtypes = (ctypes.c_void_p,)
            services.UCKeyTranslate.restype = ctypes.c_int32
            services.UCKeyTranslate.argtypes = (
                ctypes.c_void_p, ctypes.c_uint16, ctypes.c_uint16, ctypes.c_uint32,
                ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32),
                ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_uint16),
            )  # fmt: skip
            prop = ctypes.c_void_p.in_dll(carbon, "kTISPropertyUnicodeKeyLayoutData").value
            source = carbon.TISCopyCurrentKeyboardLayoutInputSource()
            if not source:
                return {}
            try:
                data = carbon.TISGetInputSourceProperty(source, prop)
                layout = foundation.CFDataGetBytePtr(data) if data else None
                if not layout:
                    return {}
                kbd_type = carbon.LMGetKbdType()
                found: dict[str, int] = {}
                chars = (ctypes.c_uint16 * 4)()
                for keycode in range(128):
                    dead, length = ctypes.c_uint32(0), ctypes.c_ulong(0)
                    # kUCKeyActionDisplay (3), no modifiers, kUCKeyTranslateNoDeadKeysMask
                    status = services.UCKeyTranslate(
                        layout, keycode, 3, 0, kbd_type, 1, ctypes.byref(dead), 4,
                        ctypes.byref(length), chars,
                    )  # fmt: skip
                    if status == 0 and length.value == 1:
                        found.setdefault(chr(chars[0]).upper(), keycode)
                return found
            finally:
                foundation.CFRelease(source)
        except (OSError, AttributeError, ValueError):
            return {}

    def grab(self, chord: Chord) -> int:
        mods, keycode = macos_hotkey(chord)
        char = chr(chord.key.value) if chord.key.value < 0x80 else ""
        if char and char in _LETTERS + string.digits:
            keycode = self._layout_keycodes().get(char, keycode)
        token = _next_token()
        ref = ctypes.c_void_p()
        status = self._carbon.RegisterEventHotKey(
            keycode, mods, _EventHotKeyID(_SIGNATURE, token), self._target, 0, ctypes.byref(ref)
        )
        if status == EVENT_HOT_KEY_EXISTS_ERR:
            raise _taken(chord)
        if status != 0:
            raise HotkeyError(f"macOS refused the shortcut {chord.text} (error {status}).")
        self._refs[token] = ref
        return token

    def release(self, token: int) -> None:
        ref = self._refs.pop(token, None)
        if ref is not None:
            self._carbon.UnregisterEventHotKey(ref)

    def close(self) -> None:
        for token in list(self._refs):
            self.release(token)
        if self._handler is not None:
            self._carbon.RemoveEventHandler(self._handler)
            self._handler = None


# ----- X11


class _XKeyEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("root", ctypes.c_ulong),
        ("subwindow", ctypes.c_ulong),
        ("time", ctypes.c_ulong),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("x_root", ctypes.c_int),
        ("y_root", ctypes.c_int),
        ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint),
        ("same_screen", ctypes.c_int),
    )


class _XEvent(ctypes.Union):
    _fields_ = (("type", ctypes.c_int), ("xkey", _XKeyEvent), ("pad", ctypes.c_long * 24))


class _XErrorEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    )


class _XModifierKeymap(ctypes.Structure):
    _fields_ = (("max_keypermod", ctypes.c_int), ("modifiermap", ctypes.POINTER(ctypes.c_ubyte)))


_XErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_XErrorEvent))
KEY_PRESS, KEY_RELEASE = 2, 3
BAD_ACCESS = 10
GRAB_MODE_ASYNC = 1
XK_NUM_LOCK = 0xFF7F


class _XErrorTrap:
    """Xlib's error handler is one for the whole process: while a grab is checked, ours
    records the errors of the displays being checked and passes any other display's
    errors to the handler it replaced. One lock keeps two checks from interleaving (and
    so from restoring each other's handler)."""

    lock = threading.Lock()
    errors: dict[int, list[int]] = {}  # noqa: RUF012 - shared by design, under the lock
    previous: Any = None

    @staticmethod
    def _handle(display: int | None, event: Any) -> int:
        codes = _XErrorTrap.errors.get(display or 0)
        if codes is not None:
            codes.append(int(event.contents.error_code))
            return 0
        previous = _XErrorTrap.previous
        return int(previous(display, event)) if previous else 0

    handler = _XErrorHandler(_handle)

    @classmethod
    @contextlib.contextmanager
    def trapping(cls, xlib: ctypes.CDLL, display: int) -> Iterator[list[int]]:
        """Errors on ``display`` inside the block (the block must end with XSync)."""
        with cls.lock:
            codes: list[int] = []
            cls.errors[display] = codes
            cls.previous = xlib.XSetErrorHandler(cls.handler)
            try:
                yield codes
            finally:
                xlib.XSetErrorHandler(cls.previous)
                cls.previous = None
                del cls.errors[display]


def _xlib() -> ctypes.CDLL:
    path = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        xlib = ctypes.CDLL(path)
    except OSError as exc:
        raise HotkeyError(
            "Global shortcuts need the X11 client library (libX11), which is not installed."
        ) from exc
    c_void_p, c_int, c_uint, c_ulong = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong
    signatures: dict[str, tuple[Any, tuple[Any, ...]]] = {
        "XInitThreads": (c_int, ()),
        "XOpenDisplay": (c_void_p, (ctypes.c_char_p,)),
        "XCloseDisplay": (c_int, (c_void_p,)),
        "XDefaultRootWindow": (c_ulong, (c_void_p,)),
        "XConnectionNumber": (c_int, (c_void_p,)),
        "XKeysymToKeycode": (ctypes.c_ubyte, (c_void_p, c_ulong)),
        "XGrabKey": (c_int, (c_void_p, c_int, c_uint, c_ulong, c_int, c_int, c_int)),
        "XUngrabKey": (c_int, (c_void_p, c_int, c_uint, c_ulong)),
        "XSync": (c_int, (c_void_p, c_int)),
        "XPending": (c_int, (c_void_p,)),
        "XNextEvent": (c_int, (c_void_p, ctypes.POINTER(_XEvent))),
        "XSetErrorHandler": (_XErrorHandler, (_XErrorHandler,)),
        "XGetModifierMapping": (ctypes.POINTER(_XModifierKeymap), (c_void_p,)),
        "XFreeModifiermap": (c_int, (ctypes.POINTER(_XModifierKeymap),)),
        "XkbSetDetectableAutoRepeat": (c_int, (c_void_p, c_int, ctypes.POINTER(c_int))),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(xlib, name)
        function.restype = restype
        function.argtypes = argtypes
    return xlib


@dataclass(frozen=True)
class _XGrab:
    keycode: int
    mask: int
    variants: tuple[int, ...]


class _X11Backend:
    """``XGrabKey`` on the root window, over a connection of its own.

    Every Xlib call on the connection is made under ``self._lock``, either by the GUI
    thread (grab, release) or by the reader thread, which waits on the connection's socket
    and a wake-up socket with ``select`` (so it holds no lock while it waits) and reads the
    queued events with XPending/XNextEvent, which then never block.
    """

    def __init__(self, display_name: str, on_press: Callable[[int], None]) -> None:
        self._x = _xlib()
        self._x.XInitThreads()  # a no-op since libX11 1.8, which does it on its own
        display = self._x.XOpenDisplay(display_name.encode())
        if not display:
            raise HotkeyError(
                f"Could not connect to the X display {display_name}, so no global shortcut "
                "can be registered."
            )
        self._display: int | None = display
        self._on_press = on_press
        self._lock = threading.Lock()
        self._root = int(self._x.XDefaultRootWindow(display))
        self._numlock = self._numlock_mask(display)
        # Holding the keys down then sends presses without releases in between, so a
        # repeat is told from a new press (per connection: no other client is affected).
        supported = ctypes.c_int(0)
        self._x.XkbSetDetectableAutoRepeat(display, 1, ctypes.byref(supported))
        self._detects_repeat = bool(supported.value)
        self._grabs: dict[int, _XGrab] = {}
        self._down: set[int] = set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)  # a full buffer already means "look"
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _numlock_mask(self, display: int) -> int:
        """Which ModN NumLock is on (Mod2 on most systems)."""
        keycode = self._x.XKeysymToKeycode(display, XK_NUM_LOCK)
        keymap = self._x.XGetModifierMapping(display)
        if not keymap:
            return MOD2_MASK
        try:
            per = keymap.contents.max_keypermod
            codes = keymap.contents.modifiermap
            for index in range(8 * per):
                if keycode and codes[index] == keycode:
                    return 1 << (index // int(per))
            return MOD2_MASK if not keycode else 0
        finally:
            self._x.XFreeModifiermap(keymap)

    def grab(self, chord: Chord) -> int:
        mask, keysym = x11_hotkey(chord)
        with self._lock:
            display = self._display
            if display is None:
                raise HotkeyError("The global shortcut was closed.")
            keycode = int(self._x.XKeysymToKeycode(display, keysym))
            if not keycode:
                raise HotkeyError(f"{chord.text} cannot be used: this keyboard has no such key.")
            # Grabs match modifiers exactly: grab each Caps Lock / Num Lock state too.
            locks = (0, LOCK_MASK, self._numlock, LOCK_MASK | self._numlock)
            variants = tuple(sorted({mask | extra for extra in locks}))
            with _XErrorTrap.trapping(self._x, display) as errors:
                for variant in variants:
                    self._x.XGrabKey(
                        display, keycode, variant, self._root, 0, GRAB_MODE_ASYNC, GRAB_MODE_ASYNC
                    )
                self._x.XSync(display, 0)
                if errors:  # undo the variants that did succeed
                    for variant in variants:
                        self._x.XUngrabKey(display, keycode, variant, self._root)
                    self._x.XSync(display, 0)
            if errors:
                if BAD_ACCESS in errors:
                    raise _taken(chord)
                raise HotkeyError(
                    f"The X server refused the shortcut {chord.text} (error {errors[0]})."
                )
            token = _next_token()
            self._grabs[token] = _XGrab(keycode, mask, variants)
        self._start()
        self._wake()  # XSync may have queued events: let the reader look
        return token

    def release(self, token: int) -> None:
        with self._lock:
            grab = self._grabs.pop(token, None)
            if grab is None or self._display is None:
                return
            for variant in grab.variants:
                self._x.XUngrabKey(self._display, grab.keycode, variant, self._root)
            self._x.XSync(self._display, 0)
        self._wake()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            self._wake()
            thread.join(timeout=5)
        with self._lock:
            display, self._display = self._display, None
            self._grabs.clear()
            if display is not None:
                self._x.XCloseDisplay(display)  # the server drops this client's grabs
                self._wake_r.close()
                self._wake_w.close()

    def _start(self) -> None:
        if self._thread is None and not self._stopping.is_set():
            self._thread = threading.Thread(target=self._run, name="x11-hotkey", daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        with self._lock:
            if self._display is None:
                return
            connection = int(self._x.XConnectionNumber(self._display))
        event = _XEvent()
        while not self._stopping.is_set():
            try:
                wake = self._wake_r.fileno()
                readable, _, _ = select.select([connection, wake], [], [])
                if wake in readable:
                    self._wake_r.recv(512)
            except (OSError, ValueError):  # closed under us (close() gave up waiting)
                return
            presses: list[int] = []
            with self._lock:
                if self._display is None or self._stopping.is_set():
                    return
                while self._x.XPending(self._display):
                    self._x.XNextEvent(self._display, ctypes.byref(event))
                    token = self._handle(event)
                    if token is not None:
                        presses.append(token)
            for token in presses:
                self._on_press(token)

    def _handle(self, event: _XEvent) -> int | None:
        if event.type not in (KEY_PRESS, KEY_RELEASE):
            return None
        key = event.xkey
        if event.type == KEY_RELEASE:
            self._down.discard(key.keycode)
            return None
        if self._detects_repeat and key.keycode in self._down:
            return None  # the keys are held down: one press, not one per repeat
        self._down.add(key.keycode)
        mask = key.state & 0xFF & ~(LOCK_MASK | self._numlock)
        for token, grab in self._grabs.items():
            if grab.keycode == key.keycode and grab.mask == mask:
                return token
        return None


# ----- choosing one


def open_backend(
    platform: str, environ: Mapping[str, str], on_press: Callable[[int], None]
) -> Backend:
    """The backend for this OS and session. Raises :class:`HotkeyError` saying why there is
    none (Wayland, no display, a library missing)."""
    if platform == "win32":
        return _WindowsBackend(on_press)
    if platform == "darwin":
        return _MacBackend(on_press)
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        raise HotkeyError(f"Global shortcuts are not supported on this system. {_BIND_IT_YOURSELF}")
    wayland = (
        environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"
        or bool(environ.get("WAYLAND_DISPLAY"))
        or environ.get("QT_QPA_PLATFORM", "").startswith("wayland")
    )
    if wayland:
        raise HotkeyError(
            f"Wayland does not let apps register global shortcuts. {_BIND_IT_YOURSELF}"
        )
    display = environ.get("DISPLAY", "")
    if not display:
        raise HotkeyError(
            "Global shortcuts need an X11 desktop, and there is no display here (DISPLAY is "
            f"not set). {_BIND_IT_YOURSELF}"
        )
    return _X11Backend(display, on_press)


# --------------------------------------------------------------------------- the QObject


class _Relay(QObject):
    """Carries presses from whichever thread the backend reports on to the GUI thread."""

    pressed = Signal(int)


def _emitter(relay: _Relay) -> Callable[[int], None]:
    """The backend's ``on_press``: it holds the relay only, never the GlobalHotkey, so an
    unreferenced GlobalHotkey is collected (and its destruction closes the backend)."""

    def emit(token: int) -> None:
        with contextlib.suppress(RuntimeError):  # the relay was deleted meanwhile
            relay.pressed.emit(token)

    return emit


class GlobalHotkey(QObject):
    """One global shortcut; ``activated`` is emitted on the GUI thread when it is pressed.

    Create, register and unregister it on the GUI thread (Windows delivers the hot key to
    the thread that registered it, Carbon to the main run loop). :meth:`close` (or the
    object's destruction) releases the shortcut and stops the X11 reader thread.
    """

    activated = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        platform: str = sys.platform,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(parent)
        self._relay = _Relay(self)
        self._relay.pressed.connect(self.on_relay_pressed, Qt.ConnectionType.QueuedConnection)
        self._token: int | None = None
        self._sequence = ""
        self._backend: Backend | None = None
        self._unavailable = ""
        self._reason = ""
        try:
            self._backend = open_backend(
                platform, os.environ if environ is None else environ, _emitter(self._relay)
            )
        except HotkeyError as exc:
            self._unavailable = self._reason = str(exc)
            log.info("global shortcuts unavailable: %s", exc)
        else:
            # Destroying this object (its parent deleted, or its last Python reference
            # gone) closes the backend: the shortcut is released and the thread stopped.
            self.destroyed.connect(self._backend.close)

    def on_relay_pressed(self, token: int) -> None:
        if token == self._token:
            self.activated.emit()

    @property
    def available(self) -> bool:
        """Whether this session can have a global shortcut at all."""
        return self._backend is not None

    @property
    def reason(self) -> str:
        """Why no shortcut is active ("" when the last registration worked), for the user."""
        return self._reason

    @property
    def sequence(self) -> str:
        """The combination held now, in portable text ("" for none)."""
        return self._sequence

    def register(self, sequence: str) -> bool:
        """Hold ``sequence`` instead of the current one; False (and :attr:`reason`) if it
        cannot be, and then the combination held before, if any, stays. An empty
        ``sequence`` releases the shortcut."""
        if self._backend is None:
            self._reason = self._unavailable
            return False
        if not sequence.strip():
            self.unregister()
            return True
        try:
            chord = parse_sequence(sequence)
            if chord.portable == self._sequence:
                self._reason = ""
                return True
            token = self._backend.grab(chord)
        except HotkeyError as exc:
            self._reason = str(exc)
            log.info("global shortcut %r not registered: %s", sequence, exc)
            return False
        if self._token is not None:
            self._backend.release(self._token)
        self._token, self._sequence, self._reason = token, chord.portable, ""
        log.info("global shortcut %s registered", chord.portable)
        return True

    def unregister(self) -> None:
        """Release the shortcut (nothing happens if none is held)."""
        if self._backend is not None and self._token is not None:
            self._backend.release(self._token)
        self._token, self._sequence = None, ""
        self._reason = self._unavailable

    def close(self) -> None:
        """Release the shortcut and the OS resources for good (call it on quit)."""
        self.unregister()
        if self._backend is not None:
            self._backend.close()
            self._backend = None
            self._unavailable = self._reason = "The global shortcut was closed."
