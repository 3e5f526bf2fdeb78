#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on 127.0.0.1 for the cluster tests, beside (not instead of) the
# machine's MariaDB on 3306: its own data directories under $CHEAP_GALERA_DIR (default
# /tmp/cheap-galera), SQL ports 3311-3313, group ports 4571-4573, IST 4581-4583, rsync SST
# 4591-4593. root has no password over TCP, like the test server.
#
#   scripts/galera-cluster.sh up      start (bootstrap node 1, join 2 and 3), wait until synced
#   scripts/galera-cluster.sh down    stop every node and remove the directories
#   scripts/galera-cluster.sh start N / stop N / kill N   one node (kill: SIGKILL)
#   scripts/galera-cluster.sh status  wsrep state of each node
#
# Needs galera-4, rsync and mariadb-server (Debian packages).
set -euo pipefail
base="${CHEAP_GALERA_DIR:-/tmp/cheap-galera}"
provider="${CHEAP_GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}"
[ -e "$provider" ] || provider=/usr/lib/libgalera_smm.so
members="gcomm://127.0.0.1:4571,127.0.0.1:4572,127.0.0.1:4573"
# The nodes run as the package's `mysql` user: an rsync SST run by root serves its files as
# `nobody`, which cannot read them.
run_as="${CHEAP_GALERA_USER:-mysql}"

conf() { # node
  local n=$1 dir="$base/node$1"
  mkdir -p "$dir"
  chown "$run_as" "$base" "$dir" 2>/dev/null || true
  cat >"$dir/my.cnf" <<EOF
[mysqld]
user=$run_as
datadir=$dir/data
socket=$dir/mysqld.sock
pid-file=$dir/mysqld.pid
log-error=$dir/error.log
port=331$n
bind-address=127.0.0.1
skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=64M
innodb_log_file_size=32M
max_connections=300
character-set-server=utf8mb4
wsrep_on=ON
wsrep_provider=$provider
wsrep_cluster_name=cheap_test
wsrep_cluster_address=$members
wsrep_node_address=127.0.0.1:457$n
wsrep_node_name=node$n
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:457$n;ist.recv_addr=127.0.0.1:458$n;gcache.size=64M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:459$n
EOF
}

sql() { # node statement
  mariadb --no-defaults -uroot -h127.0.0.1 -P"331$1" -N -B -e "$2"
}

wait_synced() { # node
  for _ in $(seq 1 120); do
    if [ "$(sql "$1" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_local_state_comment'" 2>/dev/null || true)" = "Synced" ]; then
      return 0
    fi
    sleep 0.5
  done
  echo "galera: node $1 did not reach Synced; its log:" >&2
  tail -n 40 "$base/node$1/error.log" >&2 || true
  return 1
}

start_node() { # node [--wsrep-new-cluster]
  local n=$1
  shift
  conf "$n"
  if [ ! -d "$base/node$n/data/mysql" ]; then
    mariadb-install-db --no-defaults --user="$run_as" --datadir="$base/node$n/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$base/node$n/install.log" 2>&1
  fi
  touch "$base/node$n/error.log"
  chown "$run_as" "$base/node$n/error.log" 2>/dev/null || true
  mariadbd --defaults-file="$base/node$n/my.cnf" "$@" >>"$base/node$n/error.log" 2>&1 &
}

case "${1:-}" in
up)
  "$0" down >/dev/null 2>&1 || true
  mkdir -p "$base"
  start_node 1 --wsrep-new-cluster
  # Node 1 must accept TCP logins before the others copy it.
  for _ in $(seq 1 120); do
    mariadb --no-defaults -uroot -S "$base/node1/mysqld.sock" -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb --no-defaults -uroot -S "$base/node1/mysqld.sock" -e \
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; CREATE DATABASE IF NOT EXISTS test;"
  wait_synced 1
  for n in 2 3; do
    start_node "$n"
    wait_synced "$n"
  done
  echo "galera: 3 nodes synced on 127.0.0.1:3311-3313"
  ;;
down)
  for n in 1 2 3; do
    if [ -f "$base/node$n/mysqld.pid" ]; then
      kill "$(cat "$base/node$n/mysqld.pid")" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 60); do
    pgrep -f "$base/node" >/dev/null || break
    sleep 0.5
  done
  pkill -9 -f "$base/node" 2>/dev/null || true
  rm -rf "$base"
  ;;
start)
  start_node "$2"
  wait_synced "$2"
  ;;
stop)
  kill "$(cat "$base/node$2/mysqld.pid")"
  ;;
kill)
  kill -9 "$(cat "$base/node$2/mysqld.pid")"
  ;;
status)
  for n in 1 2 3; do
    echo "node $n: $(sql "$n" "SELECT GROUP_CONCAT(VARIABLE_NAME, '=', VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_ready','wsrep_local_state_comment','wsrep_cluster_size','wsrep_cluster_status')" 2>/dev/null || echo down)"
  done
  ;;
*)
  echo "usage: $0 up|down|start N|stop N|kill N|status" >&2
  exit 2
  ;;
esac
