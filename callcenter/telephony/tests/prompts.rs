//! The shipped audio: every prompt in `prompts.tsv` is an 8 kHz mono 16-bit WAV, and hold music
//! is music (a tune that keeps going and changes pitch), not a beep with silence between.

use std::path::{Path, PathBuf};

use telephony::media::dtmf::goertzel;

fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ivr-scripts/prompts")
}

/// (sample rate, channels, bits, samples) of a PCM WAV file.
fn read_wav(path: &Path) -> (u32, u16, u16, Vec<i16>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[0..4], b"RIFF", "{}", path.display());
    assert_eq!(&b[8..12], b"WAVE", "{}", path.display());
    let (mut at, mut fmt, mut data) = (12, None, None);
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &b[at + 8..(at + 8 + len).min(b.len())];
        match id {
            b"fmt " => {
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
                let bits = u16::from_le_bytes([body[14], body[15]]);
                fmt = Some((rate, channels, bits));
            }
            b"data" => data = Some(body.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]])).collect()),
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    let (rate, channels, bits) = fmt.expect("fmt chunk");
    (rate, channels, bits, data.expect("data chunk"))
}

#[test]
fn every_prompt_is_an_8khz_mono_wav() {
    let dir = prompts_dir();
    let list = std::fs::read_to_string(dir.join("prompts.tsv")).unwrap();
    let mut n = 0;
    for line in list.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let id = line.split('\t').next().unwrap();
        let (rate, channels, bits, samples) = read_wav(&dir.join(format!("{id}.wav")));
        assert_eq!((rate, channels, bits), (8000, 1, 16), "{id}.wav");
        assert!(samples.len() > 800, "{id}.wav holds sound");
        n += 1;
    }
    assert!(n > 100, "{n} prompts listed");
}

#[test]
fn hold_music_is_a_tune_that_keeps_going() {
    let (rate, channels, bits, samples) = read_wav(&prompts_dir().join("hold.wav"));
    assert_eq!((rate, channels, bits), (8000, 1, 16));
    let seconds = samples.len() as f64 / rate as f64;
    assert!(seconds >= 10.0, "a loop long enough not to nag: {seconds:.1} s");
    // In 100 ms windows: how many carry sound, and which semitone (100 Hz–1.1 kHz) is loudest in
    // each 250 ms window.
    let x: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
    let windows = x.chunks(800).filter(|w| w.len() == 800);
    let total = windows.clone().count();
    let silent = windows
        .filter(|w| (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt() < 0.01)
        .count();
    assert!(
        silent * 20 <= total,
        "{silent} of {total} 100 ms windows silent (a beep with pauses)"
    );
    let mut pitches = std::collections::BTreeSet::new();
    for w in x.chunks(2000).filter(|w| w.len() == 2000) {
        let best = (0..44)
            .map(|n| (n, goertzel(w, 110.0 * 2f32.powf(n as f32 / 12.0))))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(n, _)| n)
            .unwrap();
        pitches.insert(best);
    }
    assert!(
        pitches.len() >= 6,
        "a tune moves between notes: loudest semitones {pitches:?}"
    );
}
