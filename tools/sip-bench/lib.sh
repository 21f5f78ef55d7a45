# Helpers shared by run.sh and cluster.sh; sourced, not run.

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# sipp's own socket buffer (64 KiB by default) overflows under the burst of
# answers to 200 requests in flight; each answer dropped there stalls a
# call slot for sipp's 500 ms retransmission and the run measures sipp.
sipp_buffer=$((4 << 20))

# Datagrams the host dropped for a full receive buffer, at any socket.
udp_drops() { awk '/^Udp:/ && $2 ~ /^[0-9]+$/ {print $6}' /proc/net/snmp; }

# CPU ticks (user + system) of the processes whose pids are the arguments;
# a process gone counts nothing.
pid_ticks() {
  for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done |
    awk '{s += $1} END {print s + 0}'
}
tick=$(getconf CLK_TCK)

# Successful and failed calls of a finished sipp run in DIR: "ok failed".
sipp_tally() { # dir
  local screen ok failed
  screen=$(ls "$1"/*_screen.log 2>/dev/null | head -n 1)
  ok=$(awk -F'|' '/Successful call/ {gsub(/ /, "", $3); print $3}' "$screen" | tail -n 1)
  failed=$(awk -F'|' '/Failed call/ {gsub(/ /, "", $3); print $3}' "$screen" | tail -n 1)
  echo "${ok:-0} ${failed:-0}"
}

# Response times of a sipp run in DIR traced with -trace_rtt -rtt_freq 1
# (the scenario's start_rtd/rtd: request sent to final answer, with any
# retransmission): "p50 p99 max" in ms, or "- - -" with none.
rtt_stats() { # dir
  cat "$1"/*_rtt.csv 2>/dev/null | awk -F';' '$2 ~ /^[0-9.]+$/ {print $2}' | sort -n |
    awk '{v[NR] = $1} END {
      if (NR == 0) { print "- - -"; exit }
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
      printf "%.1f %.1f %.1f\n", p50, p99, v[NR] }'
}

# Fails unless kamailio and sipp are installed; prints the lsp-node binary:
# the one given, or a release build made here.
lsp_node_or_build() { # given path or "", top of the workspace
  local tool
  for tool in kamailio sipp; do
    command -v "$tool" >/dev/null || { echo "sip-bench: $tool is not installed" >&2; return 1; }
  done
  if [ -n "$1" ]; then echo "$1"; return; fi
  (cd "$2" && cargo build --release -q -p lsp-node) >&2
  echo "$2/target/release/lsp-node"
}
