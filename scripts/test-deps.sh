#!/usr/bin/env bash
# Installs the Debian test clients the end-to-end suites drive, when missing.
set -euo pipefail
pkgs=(python3-paho-mqtt python3-pika python3-stomp python3-websocket python3-boto3 awscli mosquitto-clients amqp-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test clients: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q "${missing[@]}" || { $SUDO apt-get update -q && $SUDO apt-get install -y -q "${missing[@]}"; }
fi
