#!/usr/bin/env bash
# Kamailio against lsp-node's SIP front, driven by the same sipp scenarios in
# one run, taking turns: REGISTER/s and INVITE->302/s with their failures,
# lsp-node's rate as a ratio of Kamailio's, and the CPU time each target's
# processes spent per call (a figure the shared machine's noise moves less),
# and the datagrams the host dropped for a full socket buffer meanwhile.
#
#   tools/sip-bench/run.sh [--users N] [--calls N] [--rounds N] [--in-flight N]
#                          [--no-ring] [--only LIST] [--node PATH] [--json PATH]
#   tools/sip-bench/run.sh --cluster ...   (three of each, a crash: cluster.sh)
#
# Targets, all on 127.0.0.1:
#   kamailio  Kamailio with memory-only usrloc: save() for REGISTER,
#             lookup() then a stateless 302 (kamailio.cfg)
#   local     one lsp-node, store = "local": the embedded store alone
#   hybrid    one lsp-node (a ring of one), store = "hybrid": the embedded
#             store and the ring node's own store, both written
#   ring      three lsp-node processes in a ring, store = "ring" at the one
#             with the SIP front (--no-ring leaves it out)
# Needs kamailio, sipp (sip-tester) and a release build of lsp-node (built
# here). Writes target/lsp-bench/sip-bench.json. --only kamailio,ring runs
# only the targets named (no ratio is printed without kamailio); --node runs
# that lsp-node binary instead of building one, to compare two builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
if [ "${1:-}" = --cluster ]; then
  shift
  exec bash "$here/cluster.sh" "$@"
fi
# shellcheck source=lib.sh
. "$here/lib.sh"

users=50000
calls=50000
rounds=3
in_flight=200
ring=1
only=""
node=""
json="$top/target/lsp-bench/sip-bench.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --in-flight) in_flight=$2; shift 2 ;;
    --no-ring) ring=0; shift ;;
    --only) only=",$2,"; shift 2 ;;
    --node) node=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
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

# Kamailio.
kport=$(free_port)
kamailio -f "$here/kamailio.cfg" -l "udp:127.0.0.1:$kport" -DD -E -m 512 -M 16 \
  -w "$work" > "$work/kamailio.log" 2>&1 &
pids+=($!)

start_node() { # name, extra config; prints the node's "id@addr" and its SIP port
  local name=$1 extra=$2
  cat > "$work/$name.toml" <<CONF
identity_file = "$name.key"
listen = "127.0.0.1:0"
$extra
[status]
listen = "127.0.0.1:0"
CONF
  "$node" run --config "$work/$name.toml" > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  echo "$!" > "$work/$name.pid"
  for _ in $(seq 1 100); do grep -q '^ready$' "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready$' "$work/$name.out" || { echo "sip-bench: $name did not start" >&2; cat "$work/$name.err" >&2; exit 1; }
}
anchor=$("$node" keygen "$work/domain.key" | awk '/^public-key/ {print $2}')
policy="[policy]
mode = \"anchors\"
[[policy.anchors]]
domain = \"example.com\"
key = \"$anchor\""
sip_section() { # port, store
  cat <<CONF
[sip]
udp = ["127.0.0.1:$1"]
domains = ["example.com"]
domain_key_file = "domain.key"
store = "$2"
allow_unauthenticated = true
CONF
}
lport=$(free_port)
start_node local "$policy
$(sip_section "$lport" local)"
hport=$(free_port)
start_node hybrid "$policy
$(sip_section "$hport" hybrid)"
targets=("kamailio:$kport" "local:$lport" "hybrid:$hport")

if [ "$ring" = 1 ]; then
  rport=$(free_port)
  # Three daemons on a small host. The one with the SIP front keeps the
  # daemon's default, a worker per core, as an operator's would; the two
  # others stand for peers on hosts of their own and get one worker each,
  # since one per core each cost about a sixth more CPU per REGISTER.
  start_node ring1 "$policy
$(sip_section "$rport" ring)"
  boot=$(awk '/^lsp-node/ {print $2 "@" $4}' "$work/ring1.out")
  start_node ring2 "threads = 1
bootstrap = [\"$boot\"]
$policy"
  start_node ring3 "threads = 1
bootstrap = [\"$boot\"]
$policy"
  sleep 5 # let the three settle
  targets+=("ring:$rport")
fi
if [ -n "$only" ]; then
  chosen=()
  for t in "${targets[@]}"; do
    case "$only" in *",${t%%:*},"*) chosen+=("$t") ;; esac
  done
  targets=("${chosen[@]}")
fi

# CPU ticks (user + system) of a target's processes: Kamailio's are all
# its forked workers, ring's the three nodes.
cpu_ticks() { # target
  case "$1" in
    kamailio) pid_ticks $(pgrep -x kamailio || true) ;;
    ring) pid_ticks $(cat "$work"/ring[123].pid) ;;
    *) pid_ticks $(cat "$work/$1.pid") ;;
  esac
}

# One sipp run: prints "rate failures cpu drops" (calls/s, failed calls, the
# target's CPU microseconds per successful call, and UDP datagrams dropped
# for a full receive buffer, at sipp's socket or the target's).
run_sipp() { # target, port, scenario
  local target=$1 port=$2 scenario=$3 dir
  dir=$(mktemp -d -p "$work")
  local t0 t1 c0 c1 d0 d1
  d0=$(udp_drops)
  c0=$(cpu_ticks "$target")
  t0=$(date +%s.%N)
  (cd "$dir" && sipp "127.0.0.1:$port" -sf "$here/$scenario" -inf "$work/users.csv" \
     -m "$calls" -l "$in_flight" -r 1000000 -i 127.0.0.1 -p "$(free_port)" \
     -nostdin -timeout 300s -trace_screen -max_socket 1024 -buff_size "$sipp_buffer" \
     >/dev/null 2>&1) || true
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$target")
  d1=$(udp_drops)
  local ok failed
  read -r ok failed < <(sipp_tally "$dir")
  awk -v ok="${ok:-0}" -v f="${failed:-0}" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$tick" \
    -v d="$((d1 - d0))" \
    'BEGIN { printf "%.0f %d %.0f %d\n", ok / (t1 - t0), f + 0, (ok > 0 ? c / hz * 1e6 / ok : 0), d }'
}

results="$work/results.txt"
: > "$results"
printf '%-6s %-9s %-9s %12s %9s %12s %8s\n' round target phase "calls/s" failed "cpu us/call" drops
for r in $(seq 1 "$rounds"); do
  for phase in register invite; do
    for t in "${targets[@]}"; do
      name=${t%%:*} port=${t##*:}
      read -r rate failed cpu drops < <(run_sipp "$name" "$port" "$phase.xml")
      printf '%-6s %-9s %-9s %12s %9s %12s %8s\n' "$r" "$name" "$phase" "$rate" "$failed" "$cpu" "$drops"
      echo "$r $name $phase $rate $failed $cpu $drops" >> "$results"
    done
  done
done

echo
echo "medians over $rounds rounds; ratio = target / kamailio, taken round by round"
python3 - "$results" "$json" "$users" "$calls" "$in_flight" <<'PY'
import json, statistics, sys, os
rows = [l.split() for l in open(sys.argv[1])]
path, users, calls, in_flight = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
by = {}
for r, name, phase, rate, failed, cpu, drops in rows:
    by.setdefault((name, phase), {})[int(r)] = (int(rate), int(failed), int(cpu), int(drops))
out = {"users": users, "calls": calls, "in_flight": in_flight, "rows": []}
print(f"{'target':9} {'phase':9} {'calls/s':>10} {'failed':>7} {'ratio':>6} {'ratio range':>13} {'cpu us/call':>12} {'drops':>6}")
for (name, phase), runs in sorted(by.items()):
    rates = [v[0] for v in runs.values()]
    failed = sum(v[1] for v in runs.values())
    k = by.get(("kamailio", phase), {})
    ratios = [runs[r][0] / k[r][0] for r in runs if r in k and k[r][0] > 0]
    med = statistics.median(ratios) if ratios else float("nan")
    rng = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
    cpu = statistics.median(v[2] for v in runs.values())
    drops = sum(v[3] for v in runs.values())
    print(f"{name:9} {phase:9} {statistics.median(rates):>10.0f} {failed:>7} {med:>6.2f} {rng:>13} {cpu:>12.0f} {drops:>6}")
    out["rows"].append({"target": name, "phase": phase, "rates": rates, "failed": failed,
                        "cpu_us_per_call": [v[2] for v in runs.values()],
                        "udp_drops": [v[3] for v in runs.values()],
                        "ratio_median": round(med, 2) if ratios else None,
                        "ratios": [round(x, 2) for x in ratios]})
os.makedirs(os.path.dirname(path), exist_ok=True)
json.dump(out, open(path, "w"), indent=1)
print(f"wrote {path}")
PY
