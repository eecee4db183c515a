#!/bin/sh
# Renders capdeck.svg into the PNG sizes the packages use and the Windows .ico (embedded in
# capdeck.exe by build.rs). The outputs are committed, so a build needs neither tool.
# Needs: rsvg-convert (librsvg2-bin), convert (imagemagick).
set -eu
cd "$(dirname "$0")"
for s in 16 32 48 64 128 256 512; do
  rsvg-convert -w "$s" -h "$s" capdeck.svg -o "capdeck-$s.png"
done
convert capdeck-16.png capdeck-32.png capdeck-48.png capdeck-64.png capdeck-128.png \
  capdeck-256.png capdeck.ico
