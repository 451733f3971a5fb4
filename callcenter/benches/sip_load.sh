#!/usr/bin/env bash
# SIP load runs with a real peer (sipp), reproducible from the README:
#
#   bash callcenter/benches/sip_load.sh            # both runs
#   RATES="1000 2000" CONCURRENT=500 bash callcenter/benches/sip_load.sh
#
# 1. Calls per second: sipp's basic `uac` flow (INVITE, 200, ACK, BYE) at rising rates into the
#    demo IVR, and in the same run into a bare `sipp -sn uas` responder as the reference. For
#    each target: the highest rate that completed with 0 failed calls at >= 95 % of the asked rate.
# 2. Concurrent calls: CONCURRENT calls held in the IVR while prompt audio flows to each; the
#    service's CPU (from /proc, over 20 s at full load) and the RTP send-interval jitter that the
#    service measures on every stream (its /metrics).
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${RATES:-"1000 2000 3000 4000 5000"}
CPS=${CPS:-1}                    # CPS=0: only the concurrent-calls run
CONCURRENT=${CONCURRENT:-2000}
command -v sipp >/dev/null || { echo "sipp is needed (apt-get install sip-tester)"; exit 1; }

cargo build --release -q -p aftercare --bin aftercare
BIN=$PWD/target/release/aftercare
WORK=$(mktemp -d /tmp/aftercare-load.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "sipp.*$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
printf 'sip_trusted = ["127.0.0.0/8"]\nmax_calls = 10000\nlog_level = "warn"\n' > load.toml

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_service() {
  local dir=$1 sip=$2 http=$3
  mkdir -p "$dir"
  "$BIN" serve --config load.toml --data-dir "$dir" --http "127.0.0.1:$http" --sip "127.0.0.1:$sip" \
    --rtp-ports 20000-39999 --ivr-dir "$OLDPWD/ivr-scripts" > "$dir/out.log" 2>&1 &
  PIDS+=($!)
  SERVICE=$!
  for _ in $(seq 1 100); do grep -q "is listening" "$dir/out.log" 2>/dev/null && return; sleep 0.1; done
  cat "$dir/out.log"; exit 1
}

# Runs sipp uac; prints "<successful> <failed> <seconds>".
run_uac() {
  local target=$1 rate=$2 n=$(( $2 * 10 ))
  local start end out
  start=$(date +%s.%N)
  out=$(timeout 120 sipp -sn uac "$target" -i 127.0.0.1 -p 0 -r "$rate" -m "$n" -l 20000 -nostdin -timeout 110 2>&1 || true)
  end=$(date +%s.%N)
  local ok fail
  ok=$(echo "$out" | awk -F'|' '/Successful call/ {gsub(/ /,"",$3); print $3}' | tail -1)
  fail=$(echo "$out" | awk -F'|' '/Failed call/ {gsub(/ /,"",$3); print $3}' | tail -1)
  echo "${ok:-0} ${fail:-0} $(echo "$end - $start" | bc)"
}

if [ "$CPS" != 0 ]; then
echo "== 1. calls per second (sipp uac, 10 s per rate)"
SIP=$(free_port); HTTP=$(free_port); UAS=$(free_port)
start_service "$WORK/cps" "$SIP" "$HTTP"
sipp -sn uas -i 127.0.0.1 -p "$UAS" -nostdin -bg >/dev/null 2>&1 || true
PIDS+=($(pgrep -f "sipp -sn uas -i 127.0.0.1 -p $UAS"))
best_uas=0; best_ivr=0
printf '%-8s %-22s %-22s\n' rate "sipp -sn uas" "aftercare IVR"
for rate in $RATES; do
  read -r ok1 f1 t1 < <(run_uac "127.0.0.1:$UAS" "$rate")
  read -r ok2 f2 t2 < <(run_uac "127.0.0.1:$SIP" "$rate")
  cps1=$(echo "$ok1 / $t1" | bc); cps2=$(echo "$ok2 / $t2" | bc)
  printf '%-8s %-22s %-22s\n' "$rate" "$cps1 cps, $f1 failed" "$cps2 cps, $f2 failed"
  if [ "$f1" = 0 ] && [ "$(echo "$cps1 >= 0.95 * $rate" | bc)" = 1 ]; then best_uas=$rate; fi
  if [ "$f2" = 0 ] && [ "$(echo "$cps2 >= 0.95 * $rate" | bc)" = 1 ]; then best_ivr=$rate; fi
done
echo "highest rate with 0 failed calls: sipp uas $best_uas cps, aftercare $best_ivr cps"
if [ "$best_uas" -gt 0 ]; then echo "ratio aftercare / sipp uas: $(echo "scale=2; $best_ivr / $best_uas" | bc)"; fi
kill "$SERVICE" 2>/dev/null || true; wait "$SERVICE" 2>/dev/null || true
fi

echo "== 2. $CONCURRENT concurrent calls with prompt audio"
SIP=$(free_port); HTTP=$(free_port)
start_service "$WORK/conc" "$SIP" "$HTTP"
ramp=$(( CONCURRENT / 250 + 3 ))
timeout $(( ramp + 60 )) sipp -sn uac "127.0.0.1:$SIP" -i 127.0.0.1 -p 0 -r 250 -m "$CONCURRENT" -l "$CONCURRENT" \
  -d $(( (ramp + 30) * 1000 )) -nostdin >/dev/null 2>&1 &
PIDS+=($!)
sleep "$ramp"
active=$(curl -s "127.0.0.1:$HTTP/metrics" | awk '/^aftercare_calls_active/ {print $2}')
hz=$(getconf CLK_TCK)
threads() { for t in /proc/$SERVICE/task/*; do echo "$(cat "$t/comm") $(awk '{print $14, $15}' "$t/stat")"; done | sort; }
t1=$(threads)
c1=$(awk '{print $14+$15}' /proc/$SERVICE/stat); s1=$(date +%s.%N)
# The receiver's view: a packet capture on loopback of one stream in 16, spread over all calls
# (RTP ports divisible by 32), inter-arrival times per stream. dumpcap (Debian tshark) when present.
if command -v dumpcap >/dev/null; then
  timeout 12 dumpcap -q -i lo -f "udp and udp[0:2] >= 20000 and udp[0:2] < 40000 and udp[0:2] & 31 = 0" \
    -w "$WORK/rx.pcapng" >/dev/null 2>&1 &
  CAP=$!
fi
sleep 20
c2=$(awk '{print $14+$15}' /proc/$SERVICE/stat); s2=$(date +%s.%N)
t2=$(threads)
metrics=$(curl -s "127.0.0.1:$HTTP/metrics")
active2=$(echo "$metrics" | awk '/^aftercare_calls_active/ {print $2}')
core=$(echo "scale=3; ($c2 - $c1) / $hz / ($s2 - $s1)" | bc)
echo "calls in the IVR: $active at the start of the window, $active2 at its end"
echo "service CPU: $core of one core; per call: $(echo "scale=3; $core * 1000000 / $active2" | bc) micro-cores"
echo "where the time goes (threads by name, share of one core over the window):"
sum() { awk '{u[$1]+=$2; k[$1]+=$3} END {for (n in u) print n, u[n], k[n]}' | sort; }
join <(echo "$t1" | sum) <(echo "$t2" | sum) |
  awk -v hz="$hz" -v secs="$(echo "$s2 - $s1" | bc)" \
    '{u = ($4 - $2) / hz / secs; k = ($5 - $3) / hz / secs; printf "  %-18s %.3f (user %.3f, kernel %.3f)\n", $1, u + k, u, k}' |
  sort -k2 -nr | head -4
echo "RTP send-interval jitter (|interval - 20 ms|, all streams):"
echo "$metrics" | grep '^aftercare_rtp_send_jitter_ms'
if [ -n "${CAP:-}" ]; then
  wait "$CAP" 2>/dev/null || true
  echo "RTP inter-arrival jitter at the receiver (|gap - 20 ms| per stream, packet capture on lo, 1 stream in 16):"
  tshark -r "$WORK/rx.pcapng" -T fields -e frame.time_epoch -e udp.srcport 2>/dev/null | python3 -c '
import sys, collections
last, dev = {}, []
for line in sys.stdin:
    t, port = line.split()
    t = float(t)
    if port in last:
        dev.append(abs((t - last[port]) * 1000 - 20))
    last[port] = t
dev.sort()
q = lambda p: dev[min(len(dev) - 1, int(p * len(dev)))]
print(f"  {len(last)} streams, {len(dev)} gaps: p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, p99.9 {q(0.999):.2f} ms")
'
fi
