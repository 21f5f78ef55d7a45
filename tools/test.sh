#!/usr/bin/env bash
# The README's test command: installs the SIP software the tests drive when it
# is missing (Debian packages, with sudo when not root), then runs every test.
#   sipp     (sip-tester)   drives the registrar and redirect server
#   baresip  (baresip-core) a real phone registering with the daemon
#   kamailio (kamailio)     a real proxy using our redirect server
#   ip       (iproute2)     network namespaces for the multi-host test (as root)
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip-core)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "tools/test.sh: install ${need[*]} (Debian package names) and run again" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "tools/test.sh: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo test --workspace --all-features "$@"
