"""customize-image.sh: a bundle into the FAT boot partition of a partitioned image, via mtools."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway_files import make_certs

REPO = Path(__file__).resolve().parents[2]
PI = REPO / "deploy" / "raspberrypi"
FAT_START = 8192          # sectors, as Raspberry Pi OS images start their boot partition
FAT_SECTORS = 69632       # 34 MiB: the smallest FAT32 mtools accepts, at 1 sector a cluster
MTOOLS = dict(os.environ)   # mtools needs no settings for this image


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run deploy/dev/setup.sh "
                    "(apt-get install mtools dosfstools fdisk)")


def make_image(path: Path) -> Path:
    """A 48 MiB image: MBR, a 34 MiB FAT32 boot partition, then a 'root' partition."""
    need("sfdisk", "mkfs.vfat", "mcopy")
    with open(path, "wb") as fh:
        fh.truncate(48 * 1024 * 1024)
    subprocess.run(["sfdisk", "-q", str(path)], check=True, text=True,
                   input=f"label: dos\nstart={FAT_START}, size={FAT_SECTORS}, type=c\n"
                         f"start={FAT_START + FAT_SECTORS}, type=83\n")
    fat = path.with_suffix(".fat")
    subprocess.run(["mkfs.vfat", "-F", "32", "-s", "1", "-n", "BOOTFS", "-C", str(fat),
                    str(FAT_SECTORS // 2)],
                   check=True, capture_output=True)
    with open(path, "r+b") as disk:
        disk.seek(FAT_START * 512)
        disk.write(fat.read_bytes())
    fat.unlink()
    (path.parent / "config.txt").write_text("arm_64bit=1\n")
    subprocess.run(["mcopy", "-i", f"{path}@@{FAT_START * 512}", str(path.parent / "config.txt"),
                    "::config.txt"],
                   check=True, env=MTOOLS)
    return path


def outside_fat(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha256(data[:FAT_START * 512] + data[(FAT_START + FAT_SECTORS) * 512:]).hexdigest()


def test_bundle_goes_into_the_boot_partition_and_reads_back(tmp_path):
    ca = make_certs(tmp_path / "ca")
    (tmp_path / "fleet.csv").write_text("id,site,lat,lon\ntgr-gw-0007,kota,-6.2,106.6\n")
    res = subprocess.run([sys.executable, "-m", "agent.cli", "provision", "--fleet",
                          str(tmp_path / "fleet.csv"), "--template",
                          str(PI / "gateway.example.yaml"), "--out", str(tmp_path / "b"),
                          "--ca-cert", ca["ca.crt"], "--ca-key", ca["ca.key"]],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    bundle = tmp_path / "b" / "tgr-gw-0007"
    image = make_image(tmp_path / "raspios.img")
    rest = outside_fat(image)
    for _ in range(2):                       # a second run replaces the first bundle
        res = subprocess.run(["bash", str(PI / "customize-image.sh"), str(image), str(bundle)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    assert "bundle for tgr-gw-0007 (6 files)" in res.stdout
    fat = f"{image}@@{FAT_START * 512}"
    listing = subprocess.run(["mdir", "-i", fat, "-b", "::lentera"], capture_output=True,
                             text=True, check=True, env=MTOOLS).stdout.split()
    assert sorted(Path(x).name for x in listing) == sorted(p.name for p in bundle.iterdir())
    for f in bundle.iterdir():
        back = subprocess.run(["mcopy", "-i", fat, f"::lentera/{f.name}", "-"],
                              capture_output=True, check=True, env=MTOOLS).stdout
        assert back == f.read_bytes(), f.name
    assert outside_fat(image) == rest, "bytes outside the boot partition changed"
    assert subprocess.run(["mcopy", "-i", fat, "::config.txt", "-"], capture_output=True,
                          env=MTOOLS).returncode == 0, "the partition's own files must stay"


def test_refuses_images_without_fat_and_folders_that_are_not_bundles(tmp_path):
    need("sfdisk")
    image = tmp_path / "blank.img"
    image.write_bytes(b"\0" * 1024 * 1024)
    (tmp_path / "notbundle").mkdir()
    res = subprocess.run(["bash", str(PI / "customize-image.sh"), str(image),
                          str(tmp_path / "notbundle")], capture_output=True, text=True)
    assert res.returncode == 1 and "has no bundle.json" in res.stderr
    (tmp_path / "notbundle" / "bundle.json").write_text("{}")
    res = subprocess.run(["bash", str(PI / "customize-image.sh"), str(image),
                          str(tmp_path / "notbundle")], capture_output=True, text=True)
    assert res.returncode == 1 and "no partition table" in res.stderr, res.stderr
