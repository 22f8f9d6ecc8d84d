#!/usr/bin/env bash
# The Kafka broker for development and tests: tansu (Apache-2.0, Kafka-compatible, from crates.io).
#
#   bash scripts/kafka.sh install   builds tansu into ~/.cargo/bin unless it is there (about 13
#                                   minutes on 2 cores); prints the binary's path
#   bash scripts/kafka.sh start     installs, then starts a broker on 127.0.0.1:9092 (in-memory
#                                   storage, log in .egov/tansu.log) unless one answers there;
#                                   prints the bootstrap address
#   bash scripts/kafka.sh stop      stops the broker this script started
#
# tansu does not create topics on first produce (the relay creates its topic) and has no
# transactions (delivery is at-least-once, consumers are idempotent). Any Kafka cluster works
# instead: point EGOV_KAFKA_BROKERS at it.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${TANSU_BIN:-$HOME/.cargo/bin/tansu}"
addr="${TANSU_ADDR:-127.0.0.1:9092}"
pidfile=.egov/tansu.pid

install() {
  if [ ! -x "$bin" ]; then
    echo "kafka: building tansu 0.6.0 (about 13 minutes; once per machine)" >&2
    cargo install tansu --version 0.6.0 --locked --features postgres,dynostore >&2
    bin="$HOME/.cargo/bin/tansu"
  fi
  echo "$bin"
}

listening() {
  (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null
}

case "${1:-start}" in
  install)
    install
    ;;
  start)
    install >/dev/null
    if ! listening; then
      mkdir -p .egov
      echo "kafka: starting tansu on $addr" >&2
      setsid "$bin" broker --listener-url "tcp://$addr" --advertised-listener-url "tcp://$addr" \
        --storage-engine memory://tansu/ >.egov/tansu.log 2>&1 </dev/null &
      echo $! >"$pidfile"
      for _ in $(seq 1 100); do
        listening && break
        sleep 0.1
      done
      listening || { echo "kafka: tansu did not start; see .egov/tansu.log" >&2; exit 1; }
    fi
    echo "$addr"
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *)
    echo "usage: $0 install|start|stop" >&2
    exit 2
    ;;
esac
