#!/bin/sh
# Installs, from Debian 12 packages, everything h2guard needs to build, run
# its demo and run its test suite.  Needs root (or sudo).
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	libevent-dev libnghttp2-dev libssl-dev libpcre2-dev libhttp-parser-dev \
	libhiredis-dev redis-server \
	check openssl ca-certificates curl nghttp2-client procps nginx-light \
	python3 python3-h2 python3-hyperframe python3-hpack
