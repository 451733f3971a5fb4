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
# Hold music: a finger-picked chord progression (C, A minor, F, G, twice, with a different
# top voice the second time) over a soft bass, made from sox's plucked-string synth. 16 s,
# looped by the player. Generated here, so the project owns it.
out=hold.wav; tmp=$(mktemp -d)
note() { sox -n -r 8000 -c 1 -b 16 "$tmp/$1.wav" synth "$3" pluck "$2" fade 0 "$3" 0.08 vol "$4"; }
i=0
arp() { # chord notes (4), played up and down as eighth notes
  local n
  for n in "$1" "$2" "$3" "$4" "$3" "$2" "$3" "$4"; do
    note "$(printf m%03d $i)" "$n" 0.25 0.5; i=$((i+1))
  done
}
for pass in 1 2; do
  if [ $pass = 1 ]; then top=(E5 C5 A4 B4); else top=(G5 E5 C5 D5); fi
  arp C4 G4 C5 "${top[0]}"
  arp A3 E4 A4 "${top[1]}"
  arp F3 C4 F4 "${top[2]}"
  arp G3 D4 G4 "${top[3]}"
done
sox "$tmp"/m*.wav "$tmp/melody.wav"
j=0
for b in C3 A2 F2 G2 C3 A2 F2 G2; do
  sox -n -r 8000 -c 1 -b 16 "$tmp/$(printf b%03d $j).wav" synth 2 pluck "$b" fade 0 2 0.3 vol 0.6; j=$((j+1))
done
sox "$tmp"/b*.wav "$tmp/bass.wav"
sox -m "$tmp/melody.wav" "$tmp/bass.wav" -r 8000 -c 1 -b 16 "$out" lowpass 2400 reverb 30 50 60 norm -6 fade 0.05 16 0.3
rm -rf "$tmp"
