#!/usr/bin/env bash
# Installs NVRTC (CUDA 11.8's runtime compiler, Debian package libnvrtc11.2, ~61 MB) so the kernel
# compile tests can run on a machine without a GPU, and NVTX (libnvtoolsext1, ~130 KB) so the NVTX
# binding is exercised too. Idempotent; run as root on Debian 12 (bookworm).
#
# libnvrtc11.2 lives in Debian's non-free component. Rather than editing the distribution's own
# sources (deb822 debian.sources or a one-line sources.list, either may or may not exist), this adds
# one deb822 file of our own that enables non-free for bookworm; a second run finds the library
# already installed and does nothing.
set -euo pipefail

nvrtc_present() {
    ls /usr/lib/*-linux-gnu/libnvrtc.so.* >/dev/null 2>&1
}
nvtx_present() {
    ls /usr/lib/*-linux-gnu/libnvToolsExt.so.1 >/dev/null 2>&1
}

if nvrtc_present && nvtx_present; then
    echo "install-nvrtc: already present: $(ls /usr/lib/*-linux-gnu/libnvrtc.so.* /usr/lib/*-linux-gnu/libnvToolsExt.so.1 | tr '\n' ' ')"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-nvrtc: must run as root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"

candidate() { apt-cache policy libnvrtc11.2 2>/dev/null | awk '/Candidate:/ {print $2}'; }

apt-get update -qq || true
if [ -z "$(candidate)" ] || [ "$(candidate)" = "(none)" ]; then
    list=/etc/apt/sources.list.d/accelaes-non-free.sources
    echo "install-nvrtc: enabling Debian non-free for ${codename} in ${list}"
    cat > "$list" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${codename} ${codename}-updates
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
fi

apt-get install -y -qq --no-install-recommends libnvrtc11.2 libnvtoolsext1
ldconfig
nvrtc_present || { echo "install-nvrtc: libnvrtc11.2 installed but libnvrtc.so.* not found" >&2; exit 1; }
echo "install-nvrtc: installed $(ls /usr/lib/*-linux-gnu/libnvrtc.so.* /usr/lib/*-linux-gnu/libnvToolsExt.so.1 | tr '\n' ' ')"
