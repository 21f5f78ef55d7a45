#!/usr/bin/env bash
# A cluster of three registrars against a ring of three, as an operator
# would compare them: three Kamailio nodes whose in-memory usrloc dmq_usrloc
# replicates, and three lsp-node processes (store = "ring", a SIP front on
# each). Per round, each cluster is started afresh and driven by the same
# sipp scenarios, taking turns (which goes first alternates by round):
#
#   register@1     REGISTER of every user at node 1
#   invite@2       INVITE -> 302 for every user at node 2
#   invite@3       the same at node 3
#   crash-invite@2 node 1 killed (SIGKILL, no goodbye), then at once
#                  INVITE -> 302 for every user at node 2
#
# Prints per run calls/s, failed calls, the cluster's CPU microseconds per
# call, and p50/p99/max response time (request sent to final answer, with
# retransmissions); then medians over the rounds and lsp-node's ratio to
# Kamailio, taken round by round.
#
#   tools/sip-bench/cluster.sh [--users N] [--rounds N] [--in-flight N]
#                              [--only kamailio|lsp] [--node PATH] [--json PATH]
#                              [--strict]
# --strict exits 1 if any lsp-node call failed (CI's smoke run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

users=20000
rounds=2
in_flight=200
node=""
only=""
strict=0
json="$top/target/lsp-bench/sip-cluster.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --in-flight) in_flight=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --strict) strict=1; shift ;;
    --node) node=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
node=$(lsp_node_or_build "$node" "$top")

work=$(mktemp -d)
# Process groups of the cluster running now (each node its own).
groups=()
stop_cluster() {
  for g in "${groups[@]}"; do kill -9 -- "-$g" 2>/dev/null || true; done
  groups=()
  sleep 0.5
}
# SIP_CLUSTER_KEEP=1 keeps the nodes' logs and sipp's traces.
cleanup() {
  stop_cluster
  if [ -n "${SIP_CLUSTER_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

{ echo SEQUENTIAL; for i in $(seq 1 "$users"); do echo "u$i"; done; } > "$work/users.csv"

# The cluster's SIP ports, node 1 first, and its processes' pids.
ports=()
cluster_pids() { for g in "${groups[@]}"; do pgrep -g "$g" || true; done; }

start_kamailio() { # round
  local dir="$work/kamailio$1" i
  ports=("$(free_port)" "$(free_port)" "$(free_port)")
  for i in 0 1 2; do
    mkdir -p "$dir/$i"
    # Node 1 announces itself to node 2, the others to node 1: dmq refuses
    # a node whose notification address is its own.
    local notify=${ports[0]}
    [ "$i" = 0 ] && notify=${ports[1]}
    setsid kamailio -f "$here/kamailio-cluster.cfg" -l "udp:127.0.0.1:${ports[$i]}" \
      -A "DMQ_SELF=\"sip:127.0.0.1:${ports[$i]}\"" -A "DMQ_NOTIFY=\"sip:127.0.0.1:$notify\"" \
      -DD -E -m 512 -M 16 -w "$dir/$i" > "$dir/$i.log" 2>&1 &
    groups+=($!)
    disown $!
  done
  sleep 3 # the dmq nodes find each other
}

start_lsp() { # round
  local dir="$work/lsp$1" i anchor boot=""
  mkdir -p "$dir"
  anchor=$("$node" keygen "$dir/domain.key" | awk '/^public-key/ {print $2}')
  ports=("$(free_port)" "$(free_port)" "$(free_port)")
  for i in 0 1 2; do
    cat > "$dir/$i.toml" <<CONF
identity_file = "$i.key"
listen = "127.0.0.1:0"
${boot:+bootstrap = [\"$boot\"]}
[status]
listen = "127.0.0.1:0"
[policy]
mode = "anchors"
[[policy.anchors]]
domain = "example.com"
key = "$anchor"
[sip]
udp = ["127.0.0.1:${ports[$i]}"]
domains = ["example.com"]
domain_key_file = "domain.key"
store = "ring"
allow_unauthenticated = true
CONF
    setsid "$node" run --config "$dir/$i.toml" > "$dir/$i.out" 2> "$dir/$i.err" &
    groups+=($!)
    disown $!
    for _ in $(seq 1 100); do grep -q '^ready$' "$dir/$i.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^ready$' "$dir/$i.out" || { echo "sip-cluster: lsp-node $i did not start" >&2; cat "$dir/$i.err" >&2; exit 1; }
    [ -n "$boot" ] || boot=$(awk '/^lsp-node/ {print $2 "@" $4}' "$dir/0.out")
  done
  sleep 5 # the three settle into one ring
}

# Each lsp-node's /status (its view of the ring), kept for a look after.
save_lsp_status() { # round
  local dir="$work/lsp$1" i url
  for i in 0 1 2; do
    url=$(awk '/^status/ {print $2}' "$dir/$i.out")
    curl -s "${url}status" > "$dir/$i.status.json" || true
  done
}

# One sipp run against node N (1-based): prints
# "rate failed cpu_us_per_call p50 p99 max".
run_sipp() { # node, scenario
  local port=${ports[$(($1 - 1))]} scenario=$2 dir t0 t1 c0 c1 ok failed
  dir=$(mktemp -d -p "$work")
  c0=$(pid_ticks $(cluster_pids))
  t0=$(date +%s.%N)
  (cd "$dir" && sipp "127.0.0.1:$port" -sf "$here/$scenario" -inf "$work/users.csv" \
     -m "$users" -l "$in_flight" -r 1000000 -i 127.0.0.1 -p "$(free_port)" \
     -nostdin -timeout 300s -trace_screen -trace_rtt -rtt_freq 1 -trace_err -max_socket 1024 \
     -buff_size "$sipp_buffer" >/dev/null 2>&1) || true
  t1=$(date +%s.%N)
  c1=$(pid_ticks $(cluster_pids))
  read -r ok failed < <(sipp_tally "$dir")
  awk -v ok="$ok" -v f="$failed" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$tick" \
    'BEGIN { printf "%.0f %d %.0f ", ok / (t1 - t0), f, (ok > 0 ? c / hz * 1e6 / ok : 0) }'
  rtt_stats "$dir"
}

results="$work/results.txt"
: > "$results"
row() { # round target phase figures...
  printf '%-6s %-9s %-15s %9s %7s %12s %8s %8s %8s\n' "$@"
}
row round target phase "calls/s" failed "cpu us/call" "p50 ms" "p99 ms" "max ms"
for r in $(seq 1 "$rounds"); do
  order=(kamailio lsp)
  [ $((r % 2)) = 0 ] && order=(lsp kamailio)
  [ -n "$only" ] && order=("$only")
  for target in "${order[@]}"; do
    "start_$target" "$r"
    for step in "register@1 1 register.xml" "invite@2 2 invite.xml" \
                "invite@3 3 invite.xml" "crash-invite@2 2 invite.xml"; do
      read -r phase at scenario <<< "$step"
      if [ "$phase" = crash-invite@2 ]; then
        [ "$target" = lsp ] && [ -n "${SIP_CLUSTER_KEEP:-}" ] && save_lsp_status "$r"
        kill -9 -- "-${groups[0]}"
        while pgrep -g "${groups[0]}" >/dev/null; do sleep 0.01; done
      fi
      read -r figures < <(run_sipp "$at" "$scenario")
      # shellcheck disable=SC2086
      row "$r" "$target" "$phase" $figures
      echo "$r $target $phase $figures" >> "$results"
    done
    stop_cluster
  done
done

echo
echo "medians over $rounds rounds; ratio = lsp / kamailio calls/s, round by round"
python3 - "$results" "$json" "$users" "$in_flight" <<'PY'
import json, os, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
path, users, in_flight = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
num = lambda v: None if v == "-" else float(v)
by = {}
for r, target, phase, rate, failed, cpu, p50, p99, mx in rows:
    by.setdefault((target, phase), {})[int(r)] = dict(
        rate=int(rate), failed=int(failed), cpu_us_per_call=int(cpu),
        p50_ms=num(p50), p99_ms=num(p99), max_ms=num(mx))
med = lambda xs: statistics.median(xs) if xs else float("nan")
out = {"users": users, "in_flight": in_flight, "rows": []}
print(f"{'target':9} {'phase':15} {'calls/s':>9} {'failed':>7} {'ratio':>6} {'ratio range':>12} "
      f"{'cpu us/call':>12} {'p99 ms':>8} {'max ms':>8}")
order = ["register@1", "invite@2", "invite@3", "crash-invite@2"]
for (target, phase), runs in sorted(by.items(), key=lambda kv: (order.index(kv[0][1]), kv[0][0])):
    vals = list(runs.values())
    k = by.get(("kamailio", phase), {})
    ratios = [runs[r]["rate"] / k[r]["rate"] for r in runs
              if target != "kamailio" and r in k and k[r]["rate"] > 0]
    rng = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
    p99 = [v["p99_ms"] for v in vals if v["p99_ms"] is not None]
    mx = [v["max_ms"] for v in vals if v["max_ms"] is not None]
    ratio = f"{med(ratios):.2f}" if ratios else "-"
    print(f"{target:9} {phase:15} {med([v['rate'] for v in vals]):>9.0f} "
          f"{sum(v['failed'] for v in vals):>7} {ratio:>6} {rng:>12} "
          f"{med([v['cpu_us_per_call'] for v in vals]):>12.0f} {med(p99):>8.1f} "
          f"{max(mx) if mx else float('nan'):>8.1f}")
    out["rows"].append({"target": target, "phase": phase, "runs": runs,
                        "ratio_median": round(med(ratios), 2) if ratios else None,
                        "ratios": [round(x, 2) for x in ratios]})
os.makedirs(os.path.dirname(path), exist_ok=True)
json.dump(out, open(path, "w"), indent=1)
print(f"wrote {path}")
PY
if [ "$strict" = 1 ]; then
  awk '$2 == "lsp" && $5 > 0 { bad = 1; print "sip-cluster: lsp-node failed " $5 " calls in " $3 " (round " $1 ")" }
       END { exit bad }' "$results" >&2
fi
