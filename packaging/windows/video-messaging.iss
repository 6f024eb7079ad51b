; Inno Setup 6 script: the per-user Windows installer of Video Messaging.
;
; Build (Windows, Inno Setup 6; .github/workflows/release.yml does this):
;   python -m PyInstaller --noconfirm build.spec
;   iscc /DAppVersion=0.1.0 /DSourceDir=C:\path\to\dist\video-messaging packaging\windows\video-messaging.iss
; Every define has a default: SourceDir is ..\..\dist\video-messaging (build.spec's COLLECT
; folder), AppVersion the version resource of video-messaging.exe, OutputDir ..\..\dist.
; Code signing happens only when a Sign Tool is given on the command line, e.g.
;   iscc "/Ssigntool=signtool.exe sign /sha1 <thumbprint> /fd sha256 /tr <timestamp url> /td sha256 $f" /DSignTool=signtool ...
; The certificate lives in the build machine's certificate store; nothing secret is here.
;
; What the installer does:
; - installs for the current user only, without administrator rights (PrivilegesRequired=lowest),
;   into {autopf}\Video Messaging, which in that mode is {userpf} = %LOCALAPPDATA%\Programs;
; - both executables of the PyInstaller bundle (video-messaging.exe, the desktop app, and
;   vmsg.exe, the command line) with everything beside them;
; - a Start-menu shortcut; an optional task "Start Video Messaging when I sign in" that
;   writes the very Run value the app's own setting writes (app/autostart.py: value
;   RUN_VALUE_NAME under HKCU\RUN_KEY, data = default_command() of the frozen app,
;   [exe, "--minimized"], as subprocess.list2cmdline writes it: the executable's path, in
;   quotes when it has a space, then " --minimized", so the app starts in the tray), and
;   clears Explorer's "turned off" record of it as the app does;
; - on uninstall: removes that Run value (and its StartupApproved record) whoever wrote
;   it, and KEEPS the user's data unless the user says Yes (default No; a silent uninstall
;   always keeps it). The data lives where app/paths.py puts it through platformdirs
;   (appname "video-messaging", appauthor "VideoMessaging", roaming=False): config, data,
;   Logs and Cache all under %LOCALAPPDATA%\VideoMessaging\video-messaging.
;   Sign-ins kept in Windows Credential Manager (keyring) are not touched.
; - a running app is closed through Windows Restart Manager when files are replaced
;   (CloseApplications=yes; the app creates no named mutex, so AppMutex cannot be used,
;   and the uninstaller does not use Restart Manager: close the app before uninstalling).
;
; Checked against the Inno Setup 6 documentation (https://jrsoftware.org/ishelp/ and its
; source, jrsoftware/issrc tag is-6_6_1, ISHelp/isetup.xml, isx.xml, isxfunc.xml, ispp.xml):
;   PrivilegesRequired=lowest ........ https://jrsoftware.org/ishelp/topic_setup_privilegesrequired.htm
;   {autopf} -> {userpf}, {autoprograms}, {localappdata}, {app}, {code:}, {cm:}
;                                       https://jrsoftware.org/ishelp/topic_consts.htm
;   AppId (GUID, "{{" escapes a brace) https://jrsoftware.org/ishelp/topic_setup_appid.htm
;   ArchitecturesAllowed / ArchitecturesInstallIn64BitMode = x64compatible
;       https://jrsoftware.org/ishelp/topic_setup_architecturesallowed.htm
;       https://jrsoftware.org/ishelp/topic_setup_architecturesinstallin64bitmode.htm
;   CloseApplications, AppMutex ....... https://jrsoftware.org/ishelp/topic_setup_closeapplications.htm
;                                       https://jrsoftware.org/ishelp/topic_setup_appmutex.htm
;   WizardStyle=modern ................ https://jrsoftware.org/ishelp/topic_setup_wizardstyle.htm
;   SignTool, SignedUninstaller, [Files] signonce
;       https://jrsoftware.org/ishelp/topic_setup_signtool.htm
;       https://jrsoftware.org/ishelp/topic_setup_signeduninstaller.htm
;   DefaultDirName, DisableProgramGroupPage, UninstallDisplayIcon, OutputDir,
;   OutputBaseFilename, MinVersion, UsePreviousTasks
;       https://jrsoftware.org/ishelp/topic_setupsection.htm
;   [Files] (Excludes, ignoreversion, recursesubdirs, createallsubdirs)
;       https://jrsoftware.org/ishelp/topic_filessection.htm
;   [InstallDelete] filesandordirs .... https://jrsoftware.org/ishelp/topic_installdeletesection.htm
;   [Registry] (HKCU, string, uninsdeletevalue)
;       https://jrsoftware.org/ishelp/topic_registrysection.htm
;   [Tasks] unchecked ................. https://jrsoftware.org/ishelp/topic_taskssection.htm
;   [Icons] ........................... https://jrsoftware.org/ishelp/topic_iconssection.htm
;   [Run] postinstall nowait skipifsilent https://jrsoftware.org/ishelp/topic_runsection.htm
;   CurStepChanged, CurUninstallStepChanged (usUninstall, usPostUninstall)
;       https://jrsoftware.org/ishelp/topic_scriptevents.htm
;   UninstallSilent, MsgBox (MB_DEFBUTTON2), RegDeleteValue, DelTree, RemoveDir, DirExists,
;   ExpandConstant, AddQuotes, WizardIsTaskSelected, Log
;       https://jrsoftware.org/ishelp/topic_isxfunc_msgbox.htm (and topic_isxfunc_<name>.htm)
;   iscc /D, /O, /S and #ifndef/#define .. https://jrsoftware.org/ishelp/topic_compilercmdline.htm
;                                       https://jrsoftware.org/ishelp/topic_isppoverview.htm
;   Uninstaller command line (/SILENT) . https://jrsoftware.org/ishelp/topic_uninstcmdline.htm
; Not run here (Linux): iscc itself. The release workflow compiles this script on Windows.
; tests/unit/test_packaging.py holds the invariants shared with app/ and build.spec.

#ifndef SourceDir
  #define SourceDir AddBackslash(SourcePath) + "..\..\dist\video-messaging"
#endif
#ifndef AppVersion
  #define AppVersion GetVersionNumbersString(AddBackslash(SourceDir) + "video-messaging.exe")
#endif
#ifndef OutputDir
  #define OutputDir AddBackslash(SourcePath) + "..\..\dist"
#endif

; app/__init__.py: APP_NAME, APP_ID, APP_AUTHOR. app/autostart.py: RUN_KEY, RUN_VALUE_NAME,
; STARTUP_APPROVED_KEY. build.spec: the two executables.
#define AppName "Video Messaging"
#define AppExeName "video-messaging.exe"
#define CliExeName "vmsg.exe"
#define DataAuthor "VideoMessaging"
#define DataAppName "video-messaging"
#define RunKey "Software\Microsoft\Windows\CurrentVersion\Run"
#define StartupApprovedKey "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
#define RunValueName "Video Messaging"

[Setup]
; Never change AppId: it ties upgrades and the uninstaller to earlier installations.
AppId={{348EC796-384D-4EA3-BD57-086734B4F657}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Kaltura
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6 needs Windows 10 1809 or later.
MinVersion=10.0.17763
CloseApplications=yes
; An upgrade must not tick "Start when I sign in" again after the person turned it off in
; the app or in Task Manager: the task starts unticked every time.
UsePreviousTasks=no
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExeName}
UninstallDisplayName={#AppName}
Compression=lzma2
SolidCompression=yes
OutputDir={#OutputDir}
OutputBaseFilename=Video-Messaging-{#AppVersion}-windows-x64-setup
#ifdef SignTool
SignTool={#SignTool}
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startatlogin"; Description: "Start {#AppName} when I sign in"; GroupDescription: "{cm:AutoStartProgramGroupDescription}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the bundle's libraries as a whole: files an older version had and
; this one does not must not linger next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
; signonce only acts when a SignTool is set (see the top of this file).
Source: "{#SourceDir}\{#AppExeName}"; DestDir: "{app}"; Flags: ignoreversion signonce
Source: "{#SourceDir}\{#CliExeName}"; DestDir: "{app}"; Flags: ignoreversion signonce
Source: "{#SourceDir}\*"; Excludes: "\{#AppExeName},\{#CliExeName}"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExeName}"; WorkingDir: "{app}"

[Registry]
; The same value app/autostart.py writes, so the installer and the app's setting agree.
; Only written when the task is chosen; removed on uninstall (also by [Code] below, for a
; value the app itself wrote).
Root: HKCU; Subkey: "{#RunKey}"; ValueType: string; ValueName: "{#RunValueName}"; ValueData: "{code:RunCommand}"; Tasks: startatlogin; Flags: uninsdeletevalue

[Run]
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
const
  RunKey = '{#RunKey}';
  StartupApprovedKey = '{#StartupApprovedKey}';
  RunValueName = '{#RunValueName}';

var
  DeleteUserData: Boolean;

{ The command app.autostart.default_command() gives when frozen,
  [sys.executable, "--minimized"] (start in the tray), written as subprocess.list2cmdline
  writes it: the path in quotes when it has a space, then " --minimized". }
function RunCommand(Param: String): String;
begin
  Result := AddQuotes(ExpandConstant('{app}\{#AppExeName}')) + ' --minimized';
end;

{ platformdirs' user_data_dir (= config, with Logs and Cache inside) for the app. }
function UserDataDir: String;
begin
  Result := ExpandConstant('{localappdata}\{#DataAuthor}\{#DataAppName}');
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  { Turning start at login on clears Explorer's "turned off by the user" record, as
    WindowsRunKey.set does in the app. }
  if (CurStep = ssPostInstall) and WizardIsTaskSelected('startatlogin') then
    RegDeleteValue(HKEY_CURRENT_USER, StartupApprovedKey, RunValueName);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usUninstall then
  begin
    { Whoever wrote it (this installer's task or the app's setting), the entry goes. }
    RegDeleteValue(HKEY_CURRENT_USER, RunKey, RunValueName);
    RegDeleteValue(HKEY_CURRENT_USER, StartupApprovedKey, RunValueName);
    DeleteUserData := False;
    if (not UninstallSilent) and DirExists(UserDataDir) then
      DeleteUserData := MsgBox('Also delete your {#AppName} data?' + #13#10#13#10 +
        'Your settings, logs, and any recordings and messages not yet sent are in:' + #13#10 +
        UserDataDir + #13#10#13#10 +
        'Choose No to keep them (for example to reinstall later).',
        mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
  end
  else if (CurUninstallStep = usPostUninstall) and DeleteUserData then
  begin
    Log('Deleting the user data in ' + UserDataDir);
    DelTree(UserDataDir, True, True, True);
    RemoveDir(ExpandConstant('{localappdata}\{#DataAuthor}'));
  end;
end;
