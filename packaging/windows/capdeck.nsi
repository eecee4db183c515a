; capdeck's Windows installer (NSIS 3, built on Linux by Debian's makensis; see build.sh).
;
;   makensis -DVERSION=0.1.0 -DEXE=path/to/capdeck.exe -DOUTFILE=capdeck-0.1.0-setup.exe capdeck.nsi
;
; Installs for all users into Program Files: capdeck.exe, the README, a Start-menu entry and
; an uninstaller listed in "Installed apps". Silent: `setup.exe /S` (optionally
; `/D=C:\path`, last). The uninstaller removes everything it installed; the user's settings
; and logs (%APPDATA%\capdeck, %LOCALAPPDATA%\capdeck) stay unless the box is ticked.
; A 64-bit installer for the 64-bit app: it runs where capdeck.exe can (and under a
; 64-bit-only Wine prefix, as in CI); 32-bit Windows can run neither.
Target amd64-unicode
SetCompressor /SOLID lzma
!include "MUI2.nsh"

!ifndef VERSION
  !error "VERSION is not defined (makensis -DVERSION=x.y.z)"
!endif
!ifndef EXE
  !error "EXE is not defined (makensis -DEXE=path/to/capdeck.exe)"
!endif
!ifndef OUTFILE
  !define OUTFILE "capdeck-${VERSION}-setup.exe"
!endif
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\capdeck"

Name "capdeck ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\capdeck"
InstallDirRegKey HKLM "Software\capdeck" "InstallDir"
RequestExecutionLevel admin
BrandingText "capdeck ${VERSION}"

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "capdeck"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "capdeck installer"
VIAddVersionKey "LegalCopyright" "MIT OR Apache-2.0"

!define MUI_ICON "../../assets/icon/capdeck.ico"
!define MUI_UNICON "../../assets/icon/capdeck.ico"
!define MUI_ABORTWARNING
!define MUI_WELCOMEPAGE_TITLE "capdeck ${VERSION}"
!define MUI_WELCOMEPAGE_TEXT "capdeck captures your microphone, webcam, screen or a window and streams them to an inference host you choose, and shows GrimStream feeds live.$\r$\n$\r$\nPrivacy: Windows asks before any desktop app may use the microphone or the camera. If capdeck lists no microphone or camera, turn on Settings > Privacy && security > Microphone (and Camera) > $\"Let desktop apps access your microphone$\" (camera). capdeck sends only what you start, only to the host you enter, and stores nothing unless you record a session."
!define MUI_FINISHPAGE_RUN "$INSTDIR\capdeck.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Open capdeck"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "capdeck" SecMain
  SectionIn RO
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  File "/oname=capdeck.exe" "${EXE}"
  File "/oname=README.md" "../../README.md"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\capdeck.lnk" "$INSTDIR\capdeck.exe" "" "$INSTDIR\capdeck.exe" 0
  WriteRegStr HKLM "Software\capdeck" "InstallDir" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "capdeck"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "capdeck"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\capdeck.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Section "un.capdeck" UnSecMain
  SectionIn RO
  SetShellVarContext all
  Delete "$INSTDIR\capdeck.exe"
  Delete "$INSTDIR\README.md"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\capdeck.lnk"
  DeleteRegKey HKLM "${UNINST_KEY}"
  DeleteRegKey HKLM "Software\capdeck"
SectionEnd

Section /o "un.Also remove my settings, logs and window layout" UnSecData
  SetShellVarContext current
  RMDir /r "$APPDATA\capdeck"
  RMDir /r "$LOCALAPPDATA\capdeck"
SectionEnd
