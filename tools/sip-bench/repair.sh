#!/usr/bin/env bash
# Repair traffic under re-REGISTER load: a ring of three lsp-node processes,
# a SIP front on the first (store = "ring"), as tools/sip-bench/run.sh's
# ring target. Round 1 registers --registers REGISTERs over --users AORs;
# round 2 sends as many again, each one a re-REGISTER of a known AOR. The
# nodes run a repair round every --repair-ms (default 5,000 ms, not the
# daemon's 30 s) so that several fall inside each round. Prints per round:
# REGISTER/s, failed calls, and, summed over the three nodes, the bytes and
# messages of record pushes (repair, hand-over, passing on), the repair
# digests that differed (each pushes a whole range) and the frames dropped
# at full peer send queues.
#
#   tools/sip-bench/repair.sh [--users N] [--registers N] [--repair-ms MS]
#                             [--node PATH] [--json PATH]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

users=50000
registers=200000
repair_ms=5000
node=""
json="$top/target/lsp-bench/sip-repair.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --registers) registers=$2; shift 2 ;;
    --repair-ms) repair_ms=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
node=$(lsp_node_or_build "$node" "$top")

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

{ echo SEQUENTIAL; for i in $(seq 1 "$users"); do echo "u$i"; done; } > "$work/users.csv"
anchor=$("$node" keygen "$work/domain.key" | awk '/^public-key/ {print $2}')
sport=$(free_port)
boot=""
for i in 1 2 3; do
  sip=""
  [ "$i" = 1 ] && sip="[sip]
udp = [\"127.0.0.1:$sport\"]
domains = [\"example.com\"]
domain_key_file = \"domain.key\"
store = \"ring\"
allow_unauthenticated = true"
  # As run.sh: the two peers without a SIP front get one worker each.
  threads=""
  [ "$i" != 1 ] && threads="threads = 1"
  cat > "$work/$i.toml" <<CONF
identity_file = "$i.key"
listen = "127.0.0.1:0"
$threads
${boot:+bootstrap = [\"$boot\"]}
[status]
listen = "127.0.0.1:0"
[timers]
repair_ms = $repair_ms
[policy]
mode = "anchors"
[[policy.anchors]]
domain = "example.com"
key = "$anchor"
$sip
CONF
  "$node" run --config "$work/$i.toml" > "$work/$i.out" 2> "$work/$i.err" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q '^ready$' "$work/$i.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready$' "$work/$i.out" || { echo "sip-repair: lsp-node $i did not start" >&2; cat "$work/$i.err" >&2; exit 1; }
  [ -n "$boot" ] || boot=$(awk '/^lsp-node/ {print $2 "@" $4}' "$work/1.out")
done
# Past the ring's settling, whose hand-overs would count as pushes.
sleep 15

# "bytes messages differed dropped", summed over the three nodes' /status.
counters() {
  local i url
  for i in 1 2 3; do
    url=$(awk '/^status/ {print $2}' "$work/$i.out")
    curl -s "${url}status"
    echo
  done | python3 -c '
import json, sys
docs = [json.loads(l) for l in sys.stdin if l.strip()]
c = [d["counters"] for d in docs]
print(*(sum(x[k] for x in c) for k in
        ("replication_bytes", "replication_messages", "digests_differed", "sends_dropped")))'
}

results="$work/results.txt"
: > "$results"
printf '%-6s %10s %7s %14s %10s %9s %8s\n' round "REGISTER/s" failed "pushed bytes" messages differed dropped
for round in 1 2; do
  read -r b0 m0 x0 d0 < <(counters)
  dir=$(mktemp -d -p "$work")
  t0=$(date +%s.%N)
  (cd "$dir" && sipp "127.0.0.1:$sport" -sf "$here/register.xml" -inf "$work/users.csv" \
     -m "$registers" -l 200 -r 1000000 -i 127.0.0.1 -p "$(free_port)" \
     -nostdin -timeout 600s -trace_screen -trace_err -max_socket 1024 \
     -buff_size "$sipp_buffer" >/dev/null 2>&1) || true
  t1=$(date +%s.%N)
  # One more repair round after the load: what it left unsettled.
  sleep "$(awk -v ms="$repair_ms" 'BEGIN { print ms / 1000 + 2 }')"
  read -r b1 m1 x1 d1 < <(counters)
  read -r ok failed < <(sipp_tally "$dir")
  rate=$(awk -v ok="$ok" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", ok / (t1 - t0) }')
  printf '%-6s %10s %7s %14s %10s %9s %8s\n' "$round" "$rate" "$failed" \
    "$((b1 - b0))" "$((m1 - m0))" "$((x1 - x0))" "$((d1 - d0))"
  echo "$round $rate $failed $((b1 - b0)) $((m1 - m0)) $((x1 - x0)) $((d1 - d0))" >> "$results"
done

mkdir -p "$(dirname "$json")"
python3 - "$results" "$json" "$users" "$registers" "$repair_ms" <<'PY'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
out = {"users": int(sys.argv[3]), "registers": int(sys.argv[4]),
       "repair_ms": int(sys.argv[5]), "rounds": [
    dict(round=int(r), rate=int(rate), failed=int(f), pushed_bytes=int(b),
         pushed_messages=int(m), digests_differed=int(x), sends_dropped=int(d))
    for r, rate, f, b, m, x, d in rows]}
json.dump(out, open(sys.argv[2], "w"), indent=1)
print("wrote", sys.argv[2])
PY
