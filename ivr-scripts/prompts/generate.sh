#!/usr/bin/env bash
# Regenerate the spoken prompts from prompts.tsv: espeak-ng speaks each text, sox converts it to
# 8 kHz mono 16-bit WAV (what the RTP engine plays as G.711). Needs Debian's espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")"
while IFS=$'\t' read -r id text; do
  case "$id" in ''|'#'*) continue ;; esac
  if [ "$text" = "None" ]; then
    sox -n -r 8000 -c 1 -b 16 "$id.wav" synth 0.4 sine 1000 vol 0.5
  else
    espeak-ng -v en-us -s 150 -w /tmp/prompt.$$.wav "$text"
    sox /tmp/prompt.$$.wav -r 8000 -c 1 -b 16 "$id.wav" norm -3
  fi
done < prompts.tsv
rm -f /tmp/prompt.$$.wav
# Hold music: a soft arpeggio, looped by the player while a caller waits in a queue.
sox -n -r 8000 -c 1 -b 16 hold.wav synth 0.45 sine 523.25 synth 0.45 sine 659.25 synth 0.45 sine 783.99 synth 0.45 sine 659.25 fade 0.02 1.8 0.02 vol 0.25 2>/dev/null \
  || sox -n -r 8000 -c 1 -b 16 hold.wav synth 1.8 sine 523.25 vol 0.25
