#!/usr/bin/env bash
# Installs what tests/test_neon_qemu.py and tests/test_dispatch_qemu.py need on an x86-64 Debian/Ubuntu CI machine:
# the aarch64 cross-compiler, clang (the NEON tests build with both: clang is what builds the
# module on a Mac) and qemu user-mode emulation (qemu-aarch64, qemu-x86_64).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends g++-aarch64-linux-gnu clang qemu-user
