# Sourced by the benchmarks that run hyperfine: the median of a named command in an --export-json
# file, and a command's peak resident memory in KiB from one run under /usr/bin/time.
median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median' "$2"; }
peak() { /usr/bin/time -f %M sh -c "$1" 2>&1 >/dev/null | tail -1; }
