"""The shipping pieces agree with the app and with build.spec: the dmgbuild settings
(packaging/macos/dmg_settings.py) set only names dmgbuild knows, the Inno Setup script
(packaging/windows/video-messaging.iss) writes the start-at-login value the app writes and
installs what build.spec builds, and the release workflow runs scripts that exist.

Neither dmgbuild (macOS only: it does not even import elsewhere) nor Inno Setup (Windows)
runs here; these are the invariants that can be held on every OS. The release workflow
runs both for real.
"""

from __future__ import annotations

import ast
import ntpath
import plistlib
import re
import stat
import sys
from pathlib import Path, PureWindowsPath
from typing import Any

import platformdirs.windows
import pytest

from app import APP_AUTHOR, APP_ID, APP_NAME, autostart, paths

ROOT = Path(__file__).resolve().parents[2]
DMG_SETTINGS = ROOT / "packaging" / "macos" / "dmg_settings.py"
ISS = ROOT / "packaging" / "windows" / "video-messaging.iss"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
BUILD_SPEC = ROOT / "build.spec"

#: The dmgbuild version the settings are written for, pinned in release.yml.
DMGBUILD_VERSION = "1.6.7"
#: Every setting dmgbuild 1.6.7 reads: the keys of the ``options`` defaults in
#: ``build_dmg`` in src/dmgbuild/core.py (tag v1.6.7), plus ``create_hook``, which it reads
#: with ``options.get``. Documented at https://dmgbuild.readthedocs.io/en/latest/settings.html.
DMGBUILD_SETTINGS = frozenset(
    {
        "filename", "volume_name", "format", "filesystem", "compression_level", "size",
        "files", "symlinks", "hide", "hide_extensions", "icon", "badge_icon", "background",
        "show_status_bar", "show_tab_view", "show_toolbar", "show_pathbar", "show_sidebar",
        "sidebar_width", "arrange_by", "grid_offset", "grid_spacing", "scroll_position",
        "show_icon_preview", "show_item_info", "label_pos", "text_size", "icon_size",
        "include_icon_view_settings", "include_list_view_settings", "list_icon_size",
        "list_text_size", "list_scroll_position", "list_sort_by", "list_use_relative_dates",
        "list_calculate_all_sizes", "list_columns", "list_column_widths",
        "list_column_sort_directions", "window_rect", "default_view", "icon_locations",
        "license", "defines", "create_hook",
    }
)  # fmt: skip
#: hdiutil formats and filesystems a downloadable, read-only image may use.
DMG_FORMATS = {"UDZO", "UDBZ", "ULFO", "ULMO"}
DMG_FILESYSTEMS = {"HFS+", "APFS"}

#: The installer's identity; changing it breaks upgrades and uninstalls of earlier versions.
APP_ID_GUID = "{{348EC796-384D-4EA3-BD57-086734B4F657}"


# --------------------------------------------------------------------------- build.spec


def spec_text() -> str:
    return BUILD_SPEC.read_text(encoding="utf-8")


def spec_bundle_folder() -> str:
    """COLLECT's name: the onedir folder under dist/."""
    match = re.search(r'COLLECT\((?:[^()]|\([^()]*\))*?name="([^"]+)"', spec_text(), re.S)
    assert match, "build.spec has no COLLECT(..., name=...)"
    return match.group(1)


def spec_executables() -> list[str]:
    names = re.findall(r'_exe\(\w+, "([^"]+)"', spec_text())
    assert names, "build.spec builds no executable through _exe()"
    return names


def spec_app_bundle() -> str:
    """The macOS BUNDLE's name (``f"{APP_NAME}.app"`` in build.spec)."""
    name = re.search(r'^APP_NAME = "([^"]+)"', spec_text(), re.M)
    assert name and re.search(r'BUNDLE\(.*?name=f"\{APP_NAME\}\.app"', spec_text(), re.S)
    return f"{name.group(1)}.app"


def test_build_spec_is_what_the_installers_expect() -> None:
    assert spec_bundle_folder() == APP_ID
    assert sorted(spec_executables()) == ["video-messaging", "vmsg"]
    assert spec_app_bundle() == f"{APP_NAME}.app"


# --------------------------------------------------------------------------- dmgbuild


def load_dmg_settings(defines: dict[str, str]) -> tuple[dict[str, Any], set[str]]:
    """Run the settings file as dmgbuild does (``exec`` in a namespace holding its
    defaults and ``defines``); returns the namespace and the names the file added."""
    namespace: dict[str, Any] = dict.fromkeys(DMGBUILD_SETTINGS)
    namespace.update(filename="out.dmg", volume_name=APP_NAME, defines=dict(defines))
    before = set(namespace)
    source = DMG_SETTINGS.read_text(encoding="utf-8")
    exec(compile(source, str(DMG_SETTINGS), "exec"), namespace, namespace)
    added = {n for n in set(namespace) - before if n != "__builtins__" and not n.startswith("_")}
    return namespace, added


def assigned_names(path: Path) -> set[str]:
    """Every name the file binds (at any depth), but those starting with ``_``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return {n for n in names if not n.startswith("_")}


def test_dmg_settings_set_only_names_dmgbuild_knows() -> None:
    namespace, added = load_dmg_settings({"app": "dist/Video Messaging.app"})
    assert added <= DMGBUILD_SETTINGS, f"not dmgbuild settings: {sorted(added - DMGBUILD_SETTINGS)}"
    unknown = assigned_names(DMG_SETTINGS) - DMGBUILD_SETTINGS
    assert not unknown, f"not dmgbuild settings (helpers must start with _): {sorted(unknown)}"
    # The settings the disk image needs are all there.
    assert {"files", "symlinks", "icon_locations", "window_rect", "format", "filesystem"} <= (
        assigned_names(DMG_SETTINGS)
    )
    assert namespace["volume_name"] == APP_NAME


def test_dmg_holds_the_app_and_an_applications_link() -> None:
    app = f"dist/{spec_app_bundle()}"
    namespace, _ = load_dmg_settings({"app": app})
    assert namespace["files"] == [str(Path(app))]
    assert namespace["symlinks"] == {"Applications": "/Applications"}
    assert set(namespace["icon_locations"]) == {spec_app_bundle(), "Applications"}
    (_x, _y), (width, height) = namespace["window_rect"]
    for x, y in namespace["icon_locations"].values():
        assert 0 < x < width and 0 < y < height, "an icon outside the window"
    assert namespace["format"] == "UDZO"
    assert namespace["filesystem"] == "HFS+"
    assert namespace["icon"] is None  # no app there: no volume icon
    # Without -D app=..., the path build.spec's BUNDLE produces.
    namespace, _ = load_dmg_settings({})
    assert namespace["files"] == [str(Path("dist") / spec_app_bundle())]


def test_dmg_format_and_filesystem_come_from_defines() -> None:
    namespace, _ = load_dmg_settings({"format": "ULFO", "filesystem": "APFS"})
    assert namespace["format"] in DMG_FORMATS and namespace["format"] == "ULFO"
    assert namespace["filesystem"] in DMG_FILESYSTEMS and namespace["filesystem"] == "APFS"


def test_dmg_volume_icon_is_the_apps_own(tmp_path: Path) -> None:
    app = tmp_path / "Video Messaging.app"
    (app / "Contents" / "Resources").mkdir(parents=True)
    (app / "Contents" / "Info.plist").write_bytes(
        plistlib.dumps({"CFBundleIconFile": "generated-1234.icns"})
    )
    (app / "Contents" / "Resources" / "generated-1234.icns").write_bytes(b"icns")
    namespace, _ = load_dmg_settings({"app": str(app)})
    assert namespace["icon"] == str(app / "Contents" / "Resources" / "generated-1234.icns")


def test_release_pins_the_dmgbuild_the_settings_are_checked_against() -> None:
    assert f'"dmgbuild=={DMGBUILD_VERSION}"' in RELEASE.read_text(encoding="utf-8")
    assert f"dmgbuild {DMGBUILD_VERSION}" in DMG_SETTINGS.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- Inno Setup


#: One ``Name: value`` parameter of a section entry (a quoted value may hold ``;`` and ``""``).
PARAM = re.compile(r'(\w+):\s*("(?:[^"]|"")*"|[^;]*)')


class Iss:
    """The script after a small preprocessing: ``#define Name "value"`` substituted for
    ``{#Name}``, comments and preprocessor lines dropped, sections split."""

    def __init__(self, text: str) -> None:
        self.defines: dict[str, str] = {}
        self.sections: dict[str, list[str]] = {}
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            define = re.match(r'#\s*define\s+(\w+)\s+"([^"]*)"$', line)
            if define:
                self.defines.setdefault(define.group(1), define.group(2))
                continue
            if line.startswith("#") or (section != "Code" and line.startswith(";")):
                continue
            header = re.fullmatch(r"\[(\w+)\]", line)
            if header:
                section = header.group(1)
                self.sections.setdefault(section, [])
            elif line and section:
                self.sections[section].append(self.expand(line))

    def expand(self, line: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return self.defines[name] if name in self.defines else match.group(0)

        return re.sub(r"\{#(\w+)\}", value, line)

    def setup(self) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in self.sections["Setup"])
        return {key.strip(): val.strip() for key, val in pairs}

    def entries(self, section: str) -> list[dict[str, str]]:
        """Each line's ``Name: value`` parameters (values unquoted, ``""`` undoubled)."""

        def unquote(value: str) -> str:
            value = value.strip()
            return value[1:-1].replace('""', '"') if value.startswith('"') else value

        return [
            {key: unquote(value) for key, value in re.findall(PARAM, line)}
            for line in self.sections.get(section, [])
        ]

    def code(self) -> str:
        return "\n".join(self.sections["Code"])


@pytest.fixture
def iss() -> Iss:
    return Iss(ISS.read_text(encoding="utf-8"))


def test_iss_installs_per_user_without_admin_rights_in_64_bit_mode(iss: Iss) -> None:
    setup = iss.setup()
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["UsePreviousTasks"] == "no"  # an upgrade never turns start at login back on
    assert "PrivilegesRequiredOverridesAllowed" not in setup
    # {autopf} is {userpf} (%LOCALAPPDATA%\Programs) in non administrative install mode.
    assert setup["DefaultDirName"] == rf"{{autopf}}\{APP_NAME}"
    assert setup["ArchitecturesAllowed"] == "x64compatible"
    assert setup["ArchitecturesInstallIn64BitMode"] == "x64compatible"
    assert setup["AppId"] == APP_ID_GUID
    assert setup["AppName"] == APP_NAME
    assert setup["WizardStyle"] == "modern"
    assert setup["CloseApplications"] == "yes"
    assert setup["UninstallDisplayIcon"] == r"{app}\video-messaging.exe"
    assert iss.entries("Languages") == [{"Name": "english", "MessagesFile": "compiler:Default.isl"}]


def test_iss_installs_what_build_spec_builds(iss: Iss) -> None:
    text = ISS.read_text(encoding="utf-8")
    default = re.search(r'#define SourceDir AddBackslash\(SourcePath\) \+ "([^"]+)"', text)
    assert default, "no default SourceDir"
    assert PureWindowsPath(default.group(1)).parts[-2:] == ("dist", spec_bundle_folder())
    sources = {e["Source"] for e in iss.entries("Files")}
    for exe in spec_executables():
        assert rf"{{#SourceDir}}\{exe}.exe" in sources
    everything = next(e for e in iss.entries("Files") if e["Source"] == r"{#SourceDir}\*")
    assert "recursesubdirs" in everything["Flags"].split()
    assert iss.defines["AppExeName"] == "video-messaging.exe"
    assert iss.defines["CliExeName"] == "vmsg.exe"


def test_iss_start_menu_shortcut_starts_the_desktop_app(iss: Iss) -> None:
    (icon,) = iss.entries("Icons")
    assert icon["Name"] == rf"{{autoprograms}}\{APP_NAME}"
    assert icon["Filename"] == r"{app}\video-messaging.exe"


def test_iss_start_at_login_writes_the_value_the_app_writes(iss: Iss) -> None:
    (task,) = iss.entries("Tasks")
    assert "unchecked" in task["Flags"].split()
    run_key = (autostart.RUN_KEY, autostart.RUN_VALUE_NAME)
    run_values = [e for e in iss.entries("Registry") if (e["Subkey"], e["ValueName"]) == run_key]
    assert len(run_values) == 1, "one Run value, under the app's RUN_KEY and RUN_VALUE_NAME"
    (entry,) = run_values
    assert entry["Root"] == "HKCU"
    assert entry["ValueType"] == "string"
    assert entry["Tasks"] == task["Name"]
    assert "uninsdeletevalue" in entry["Flags"].split()
    assert entry["ValueData"] == "{code:RunCommand}"
    code = iss.code()
    assert "AddQuotes(ExpandConstant('{app}\\video-messaging.exe'))" in run_command(iss)
    # The Pascal constants are the app's.
    assert f"RunKey = '{autostart.RUN_KEY}';" in code
    assert f"StartupApprovedKey = '{autostart.STARTUP_APPROVED_KEY}';" in code
    assert f"RunValueName = '{autostart.RUN_VALUE_NAME}';" in code


def run_command(iss: Iss) -> str:
    """The string expression ``RunCommand`` returns (the Run value's data)."""
    match = re.search(
        r"function RunCommand\(Param: String\): String;\s*begin\s*Result := (.+?);\s*end;",
        iss.code(),
        re.S,
    )
    assert match, "no function RunCommand in [Code] returning one expression"
    return match.group(1)


def evaluate_pascal(expression: str, constants: dict[str, str]) -> str:
    """The value of a Pascal string expression made of '...' literals (``''`` is a quote),
    ``+``, ``ExpandConstant`` (of the given constants) and ``AddQuotes`` (as Inno Setup's
    own: trimmed, then quoted when it holds a space and is not quoted yet). Anything else
    fails the test: what the installer writes must be known here."""

    def add_quotes(value: str) -> str:
        value = value.strip()
        quoted = value.startswith('"') and value.endswith('"')
        return f'"{value}"' if " " in value and not quoted else value

    def expand_constant(value: str) -> str:
        return re.sub(r"\{\w+\}", lambda m: constants[m.group(0)], value)

    functions = {"AddQuotes": add_quotes, "ExpandConstant": expand_constant}

    def skip(i: int) -> int:
        while i < len(expression) and expression[i].isspace():
            i += 1
        return i

    def term(i: int) -> tuple[str, int]:
        i = skip(i)
        literal = re.compile(r"'((?:[^']|'')*)'").match(expression, i)
        if literal:
            return literal.group(1).replace("''", "'"), literal.end()
        call = re.compile(r"(\w+)\(").match(expression, i)
        assert call and call.group(1) in functions, f"unknown Pascal at {expression[i:]!r}"
        value, i = expr(call.end())
        assert expression.startswith(")", i), f"no ) at {expression[i:]!r}"
        return functions[call.group(1)](value), i + 1

    def expr(i: int) -> tuple[str, int]:
        value, i = term(i)
        while expression.startswith("+", skip(i)):
            more, i = term(skip(i) + 1)
            value += more
        return value, skip(i)

    value, end = expr(0)
    assert end == len(expression), f"left over: {expression[end:]!r}"
    return value


def test_evaluate_pascal_follows_inno_setup() -> None:
    app = {"{app}": r"C:\My Apps"}
    expression = r"AddQuotes(ExpandConstant('{app}\x.exe')) + ' -a'"
    assert evaluate_pascal(expression, app) == r'"C:\My Apps\x.exe" -a'
    assert evaluate_pascal(r"AddQuotes('C:\x.exe') + 'it''s'", app) == r"C:\x.exe" + "it's"
    assert evaluate_pascal("AddQuotes(' \"a b\" ')", app) == '"a b"'
    with pytest.raises(AssertionError, match="unknown Pascal"):
        evaluate_pascal("Lowercase('X')", app)
    with pytest.raises(AssertionError, match="left over"):
        evaluate_pascal("'a' 'b'", app)


@pytest.mark.parametrize(
    "exe",
    [
        r"C:\Users\Ann\AppData\Local\Programs\Video Messaging\video-messaging.exe",
        r"D:\Apps\VideoMessaging\video-messaging.exe",
    ],
)
def test_the_installers_command_is_the_frozen_apps_own(
    iss: Iss, exe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the installer's task writes (RunCommand, {app} being the executable's folder)
    is what the frozen app writes (default_command, list2cmdline): the executable, in
    quotes when its path holds a space, started in the tray."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", exe)
    command = autostart.default_command(platform="win32")
    assert command == [exe, "--minimized"]
    installed = evaluate_pascal(run_command(iss), {"{app}": ntpath.dirname(exe)})
    assert installed == autostart.windows_command_line(command)
    assert autostart.parse_windows_command_line(installed) == command


def test_iss_uninstall_removes_the_run_value_whoever_wrote_it(iss: Iss) -> None:
    code = iss.code()
    uninstall = code[code.index("procedure CurUninstallStepChanged") :]
    for key in ("RunKey", "StartupApprovedKey"):
        assert f"RegDeleteValue(HKEY_CURRENT_USER, {key}, RunValueName);" in uninstall
    # Turning it on at install clears Explorer's "turned off" record, as the app does.
    install = code[code.index("procedure CurStepChanged") : code.index("procedure CurUninst")]
    assert "WizardIsTaskSelected('startatlogin')" in install
    assert "RegDeleteValue(HKEY_CURRENT_USER, StartupApprovedKey, RunValueName);" in install


def test_iss_uninstall_keeps_user_data_unless_asked(iss: Iss) -> None:
    code = iss.code()
    uninstall = code[code.index("procedure CurUninstallStepChanged") :]
    ask = uninstall.index("DeleteUserData := MsgBox(")
    assert "(not UninstallSilent)" in uninstall[:ask], "a silent uninstall must not delete data"
    assert "MB_YESNO or MB_DEFBUTTON2) = IDYES" in uninstall[ask:], "No must be the default"
    delete = uninstall.index("DelTree(")
    guard = uninstall.rindex("if", 0, delete)
    assert "usPostUninstall) and DeleteUserData" in uninstall[guard:delete]
    assert uninstall.count("DelTree(") == 1
    assert not iss.sections.get("UninstallDelete"), "files removed on uninstall beyond {app}"


def test_iss_user_data_folder_is_where_the_app_keeps_its_files(
    iss: Iss, monkeypatch: pytest.MonkeyPatch
) -> None:
    """app/paths.py's folders on Windows (platformdirs, the app's own arguments) all lie in
    the one folder the uninstaller offers to delete."""
    local = r"C:\Users\Ann\AppData\Local"
    roaming = r"C:\Users\Ann\AppData\Roaming"
    folders = {"CSIDL_LOCAL_APPDATA": local, "CSIDL_APPDATA": roaming}
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", folders.__getitem__)
    ours = paths._dirs()
    windows = platformdirs.windows.Windows(
        appname=ours.appname,
        appauthor=ours.appauthor,
        version=ours.version,
        roaming=ours.roaming,
        opinion=ours.opinion,
    )
    code = iss.code()
    match = re.search(r"Result := ExpandConstant\('(\{localappdata\}\\[^']+)'\);", code)
    assert match, "no UserDataDir in [Code]"
    data_dir = match.group(1).replace("{localappdata}", local)
    assert data_dir == rf"{local}\{APP_AUTHOR}\{APP_ID}"

    def norm(path: str) -> str:
        return ntpath.normcase(ntpath.normpath(path.replace("/", "\\")))

    for folder in (
        windows.user_data_dir,
        windows.user_config_dir,
        windows.user_log_dir,
        windows.user_cache_dir,
    ):
        assert norm(folder) == norm(data_dir) or norm(folder).startswith(norm(data_dir) + "\\")
    assert f"RemoveDir(ExpandConstant('{{localappdata}}\\{APP_AUTHOR}'));" in code


# --------------------------------------------------------------------------- release.yml


def release_text() -> str:
    return RELEASE.read_text(encoding="utf-8")


def test_release_runs_scripts_and_files_that_exist() -> None:
    text = release_text()
    referenced = set(re.findall(r"\b((?:scripts|packaging)/[\w./-]+\w)", text))
    assert {
        "scripts/build-bundle.sh",
        "scripts/macos-sign-and-notarize.sh",
        "packaging/windows/video-messaging.iss",
    } <= referenced
    for rel in sorted(referenced):
        path = ROOT / rel
        assert path.is_file(), f"release.yml names {rel}, which does not exist"
        if rel.endswith(".sh") and sys.platform != "win32":
            assert path.stat().st_mode & stat.S_IXUSR, f"{rel} is not executable"
    assert r"packaging\windows\video-messaging.iss" in text
    assert "build.spec" in text and BUILD_SPEC.is_file()
    # The script the DMG step runs uses the settings file this test checks.
    script = (ROOT / "scripts" / "macos-sign-and-notarize.sh").read_text(encoding="utf-8")
    assert "packaging/macos/dmg_settings.py" in script


def test_release_builds_on_every_os_and_writes_only_in_the_release_job() -> None:
    text = release_text()
    for runner in ("ubuntu-latest", "windows-latest", "macos-14", "macos-15-intel"):
        assert runner in text
    assert text.count("contents: write") == 1
    assert text.index("contents: write") > text.index("\n  release:\n")
    assert re.search(r"^permissions:\n  contents: read$", text, re.M)
    assert "if: github.ref_type == 'tag'" in text[text.index("\n  release:\n") :]


def test_release_linux_job_installs_what_dev_sh_needs_to_run() -> None:
    dev_sh = (ROOT / "dev.sh").read_text(encoding="utf-8")
    match = re.search(r"^RUN_PACKAGES=\(([^)]*)\)", dev_sh, re.M)
    assert match
    linux = release_text()[: release_text().index("\n  windows:\n")]
    for package in match.group(1).split():
        assert re.search(rf"\s{re.escape(package)}(\s|$)", linux), f"{package} not installed"


def test_release_windows_check_expects_the_apps_run_value_and_data_folder() -> None:
    text = release_text()
    assert f"'{autostart.RUN_VALUE_NAME}'" in text
    assert rf"'HKCU:\{autostart.RUN_KEY}'" in text
    assert rf"'{APP_AUTHOR}\{APP_ID}'" in text
