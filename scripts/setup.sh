#!/usr/bin/env bash
# Installs what mailgate needs on Debian 12 (run as root): build tools, DPDK
# 22.11, libpcap, the reference peers used by the tests (tshark, nDPI), and
# the Rust components. Idempotent: skips what is already there.
set -euo pipefail

packages=(
  build-essential pkg-config clang libclang-dev
  dpdk dpdk-dev libdpdk-dev libpcap-dev
  tshark tcpdump tcpreplay libndpi-bin
  iproute2 ethtool procps python3
  postfix dovecot-imapd dovecot-pop3d swaks libnet-ssleay-perl curl openssl iputils-ping
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # Postfix asks for its role; the end-to-end peers run their own instance.
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust with rustup first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
fi
