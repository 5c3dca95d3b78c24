#!/usr/bin/env bash
# Put one gateway's provisioning bundle into a Raspberry Pi OS image, without booting it or
# loop-mounting it: the bundle is copied into the FAT boot partition with mtools.
#
#   bash deploy/raspberrypi/customize-image.sh raspios-bookworm-arm64-lite.img bundles/tgr-gw-0001
#
# The bundle lands in the boot partition's lentera/ folder (/boot/firmware/lentera/ on the
# running Pi), where lentera-firstboot.service installs it. Every file is read back and compared.
# Needs: mtools, fdisk (sfdisk). The image must be uncompressed (xz -d first).
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
IMAGE="$1" BUNDLE="${2%/}"
for tool in sfdisk mcopy mmd mdeltree mdir sha256sum; do
  command -v "$tool" >/dev/null || { echo "customize-image.sh: $tool missing: apt-get install mtools fdisk" >&2; exit 1; }
done
[ -f "$IMAGE" ] || { echo "customize-image.sh: no image $IMAGE" >&2; exit 1; }
case "$IMAGE" in *.xz|*.gz|*.zip) echo "customize-image.sh: $IMAGE is compressed: decompress it first (xz -d)" >&2; exit 1 ;; esac
[ -f "$BUNDLE/bundle.json" ] || { echo "customize-image.sh: $BUNDLE has no bundle.json: give one gateway's folder from \`lentera provision --out\`" >&2; exit 1; }

# the first FAT partition (MBR type b/c/e/ef, or GPT basic data / EFI system)
dump="$(sfdisk --dump "$IMAGE" 2>/dev/null)" || { echo "customize-image.sh: $IMAGE has no partition table" >&2; exit 1; }
sector="$(sed -n 's/^sector-size: *\([0-9]*\)/\1/p' <<<"$dump")"
start="$(awk -F'[=,]' '/ : start=/ {
  t=""; s="";
  for (i = 1; i <= NF; i++) { gsub(/ /, "", $i); if ($i ~ /start$/) s=$(i+1); if ($i ~ /type$/) t=tolower($(i+1)) }
  if (t ~ /^(b|c|e|ef|ebd0a0a2-b9e5-4433-87c0-68b6b72699c7|c12a7328-f81f-11d2-ba4b-00a0c93ec93b)$/) { print s; exit }
}' <<<"$dump")"
[ -n "$start" ] || { echo "customize-image.sh: no FAT partition in $IMAGE" >&2; exit 1; }
FAT="$IMAGE@@$(( start * ${sector:-512} ))"
export MTOOLS_SKIP_CHECK=1   # do not refuse a small FAT32 on mtools' geometry check
mdir -i "$FAT" -b :: >/dev/null || { echo "customize-image.sh: partition at sector $start is not FAT" >&2; exit 1; }

mdeltree -i "$FAT" ::lentera >/dev/null 2>&1 || true      # a bundle from an earlier run
mdeltree -i "$FAT" ::lentera.rejected >/dev/null 2>&1 || true
mmd -i "$FAT" ::lentera
count=0
for file in "$BUNDLE"/*; do
  [ -f "$file" ] || continue
  mcopy -i "$FAT" -o "$file" "::lentera/$(basename "$file")"
  want="$(sha256sum < "$file")" got="$(mcopy -i "$FAT" "::lentera/$(basename "$file")" - | sha256sum)"
  [ "$want" = "$got" ] || { echo "customize-image.sh: $(basename "$file") reads back different" >&2; exit 1; }
  count=$((count + 1))
done
gid="$(sed -n 's/.*"gateway": *"\([^"]*\)".*/\1/p' "$BUNDLE/bundle.json")"
echo "==> $IMAGE: bundle for ${gid:-?} ($count files) in the boot partition (sector $start) as lentera/"
echo "    flash it, power on: lentera-firstboot.service installs it into /etc/lentera"
