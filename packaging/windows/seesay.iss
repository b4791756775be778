; Inno Setup 6.3+ script: a per-user installer for the one-folder build in dist\seesay.
;   pyinstaller --noconfirm packaging\seesay.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\seesay.iss
; Writes dist\seesay-<version>-windows-x64-setup.exe. Installs to %LOCALAPPDATA%\Programs\Seesay
; without asking for administrator rights; Start-menu entry, optional desktop icon and optional
; start at sign-in; an uninstaller (Settings > Apps). The user's settings and history
; (%LOCALAPPDATA%\Seesay) are kept on uninstall.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "Seesay"
#define AppExe "seesay.exe"

[Setup]
; The AppId identifies the app across versions (upgrades, uninstall): never change it.
AppId={{6C1B9E3A-7D52-4F0E-9B1C-5A2E8D4F7C31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Seesay developers
VersionInfoVersion={#AppVersion}
; Per-user install: {autopf} is %LOCALAPPDATA%\Programs and {autoprograms} the user's Start menu.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=seesay-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\assets\icons\seesay.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
; A CUDA build would pass Inno's 2.1 GB limit for one setup.exe (DiskSpanning would then be
; needed); the CPU build stays well below it.
Compression=lzma2/normal
SolidCompression=yes
LZMAUseSeparateProcess=yes
; Setup closes a running Seesay before replacing its files.
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "autostart"; Description: "Start {#AppName} when I sign in"; GroupDescription: "Start-up:"; Flags: unchecked

[Files]
Source: "..\..\dist\seesay\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon
Name: "{userstartup}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: autostart

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
