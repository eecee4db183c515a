#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages capdeck needs, only those missing.
#   install-deps.sh build   -> to build (ALSA, PipeWire, libclang for bindgen, xcap's Wayland/EGL)
#   install-deps.sh run     -> to run the app (X11/Wayland, Vulkan via Mesa)
#   install-deps.sh test    -> everything the test suite needs (Xvfb, PulseAudio, Python venv,
#                              ffmpeg: the independent converter of tests/capture/video_camera.rs,
#                              espeak-ng and sox: the speech test set of tests/voice/)
#   install-deps.sh bench   -> the benchmarks' reference libraries (libsoxr, libjpeg-turbo's build)
#   install-deps.sh windows -> cross-build and run capdeck.exe: MinGW (posix threads), Wine, NSIS
#   install-deps.sh package -> Linux packages: desktop-file-validate, dpkg tools, icon rendering
set -euo pipefail

build=(build-essential pkg-config ca-certificates libasound2-dev libdbus-1-dev
       libpipewire-0.3-dev libclang1-14 libclang-common-14-dev
       libwayland-dev libegl-dev libgbm-dev)
run=(libxcursor1 libxi6 libxkbcommon-x11-0 libvulkan1 mesa-vulkan-drivers libegl1 libegl-mesa0)
bench=(libsoxr-dev cmake nasm)
windows=(espeak-ng sox gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix mingw-w64-x86-64-dev
         binutils-mingw-w64-x86-64 wine64 wine nsis msitools wixl xdotool xvfb xauth openbox
         imagemagick pulseaudio pulseaudio-utils python3 python3-venv)
package=(desktop-file-utils dpkg-dev fakeroot imagemagick xz-utils)
test=(xvfb xauth openbox imagemagick pulseaudio pulseaudio-utils libasound2-plugins python3 python3-venv
      ffmpeg espeak-ng sox dbus-daemon)

want=("${build[@]}")
for what in "$@"; do
  case "$what" in
    build) ;;
    run) want+=("${run[@]}") ;;
    test) want+=("${run[@]}" "${test[@]}") ;;
    bench) want+=("${bench[@]}") ;;
    windows) want+=("${windows[@]}") ;;
    package) want+=("${package[@]}") ;;
    *) echo "usage: $0 build|run|test|bench|windows|package ..." >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian/Ubuntu system; install the equivalents of: ${want[*]}" >&2
  exit 0
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
