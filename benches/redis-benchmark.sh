#!/usr/bin/env bash
# benches/redis-benchmark.sh — owned by the test/CI scaffolding (not the server).
#
# Side-by-side throughput of ferrodis and Debian's redis-server, measured with redis-benchmark.
# Starts both on 127.0.0.1 (two free ports, no persistence), runs
#   redis-benchmark -q -n N -c C -t set,get,incr,mset -P <p>     for p in 1 and 16
# against each (ROUNDS times, alternating which server goes first), prints a table of ops/s
# with the ratio ferrodis/redis, then stops both. It only reports: nothing is asserted.
#
#   benches/redis-benchmark.sh
#
# Environment:
#   N                  requests per test (default 100000)
#   CLIENTS            parallel connections, redis-benchmark -c (default 50)
#   PIPELINES          pipeline depths to try (default "1 16")
#   TESTS              redis-benchmark -t list (default set,get,incr,mset)
#   ROUNDS             each measurement is repeated this often, best kept (default 2)
#   FERRODIS_SERVER    our binary (default target/release/ferrodis-server)
#   REDIS_SERVER       the reference (default redis-server on PATH, i.e. Debian's)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${N:-100000}
clients=${CLIENTS:-50}
pipelines=${PIPELINES:-1 16}
tests=${TESTS:-set,get,incr,mset}
rounds=${ROUNDS:-2}
ferrodis=${FERRODIS_SERVER:-$repo/target/release/ferrodis-server}
redis=${REDIS_SERVER:-$(command -v redis-server || true)}

die() { echo "redis-benchmark.sh: $*" >&2; exit 1; }
[[ -x $ferrodis ]] || die "no $ferrodis (cargo build --release, or set FERRODIS_SERVER)"
[[ -n $redis && -x $redis ]] || die "no redis-server (apt-get install redis-server, or set REDIS_SERVER)"
command -v redis-benchmark >/dev/null || die "no redis-benchmark (apt-get install redis-tools)"
command -v redis-cli >/dev/null || die "no redis-cli (apt-get install redis-tools)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferrodis-bench.XXXXXX")
pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 (nothing answers a connection to it), not in `taken`.
taken=" "
free_port() {
  local p
  for ((p = 30000 + RANDOM % 20000, i = 0; i < 200; i++, p++)); do
    [[ $taken == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      taken+="$p "
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

# start NAME BINARY PORT: starts the server in the background, waits until it answers PING.
start() {
  local name=$1 bin=$2 port=$3 i
  mkdir -p "$tmp/$name"
  "$bin" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$tmp/$name" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do
    [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && return
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "--- $name log ---" >&2; cat "$tmp/$name.log" >&2
  die "$name ($bin) did not answer PING on 127.0.0.1:$port"
}

fport=$(free_port)
rport=$(free_port)
start ferrodis "$ferrodis" "$fport"
start redis "$redis" "$rport"

# bench PORT PIPELINE: prints "TEST rps" lines (from redis-benchmark -q's summary lines).
bench() {
  redis-cli -h 127.0.0.1 -p "$1" flushall >/dev/null
  timeout 600 redis-benchmark -h 127.0.0.1 -p "$1" -q -n "$n" -c "$clients" -P "$2" -t "$tests" </dev/null 2>&1 |
    tr '\r' '\n' |
    sed -nE 's/^([A-Za-z_ ()0-9-]+): ([0-9.]+) requests per second.*/\1\t\2/p'
}

# best NAME PORT PIPELINE: runs bench and keeps, per test, the best ops/s seen so far in
# the associative array named NAME (and records the order tests came in).
best() {
  local -n into=$1
  local t v
  while IFS=$'\t' read -r t v; do
    [[ -n ${into[$t]:-} ]] || order+=("$t")
    if [[ -z ${into[$t]:-} ]] || awk -v a="$v" -v b="${into[$t]}" 'BEGIN { exit !(a > b) }'; then
      # shellcheck disable=SC2004  # (into is a nameref to an associative array)
      into[$t]=$v
    fi
  done < <(bench "$2" "$3")
}

echo "redis-benchmark: n=$n clients=$clients tests=$tests, best of $rounds round(s)"
echo "  ferrodis: $ferrodis on 127.0.0.1:$fport"
echo "  redis:    $redis on 127.0.0.1:$rport"
printf '%-8s %4s %15s %15s %9s\n' test P ferrodis-ops/s redis-ops/s ratio
for p in $pipelines; do
  declare -A fr=() rr=()
  order=()
  for ((round = 1; round <= rounds; round++)); do
    # Alternate who goes first, so neither always benefits from a warmer machine.
    if ((round % 2)); then
      best fr "$fport" "$p"; best rr "$rport" "$p"
    else
      best rr "$rport" "$p"; best fr "$fport" "$p"
    fi
  done
  declare -A seen=()
  for t in "${order[@]}"; do
    [[ -n ${seen[$t]:-} ]] && continue
    seen[$t]=1
    f=${fr[$t]:-} r=${rr[$t]:-}
    ratio=$(awk -v f="$f" -v r="$r" 'BEGIN { if (f > 0 && r > 0) printf "%.2f", f / r; else print "-" }')
    printf '%-8s %4s %15s %15s %9s\n' "${t%% *}" "$p" "${f:--}" "${r:--}" "$ratio"
  done
  unset fr rr seen
done
# Say so if a server died during the run (a crash shows up as missing numbers above).
names=(ferrodis redis)
for i in 0 1; do
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    echo "warning: ${names[$i]} exited during the benchmark; last lines of its log:" >&2
    tail -n 20 "$tmp/${names[$i]}.log" >&2
  fi
done
