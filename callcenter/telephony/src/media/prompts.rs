//! The prompt library: 8 kHz mono 16-bit WAV files, loaded once, kept with their G.711
//! encodings so playback is a copy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::g711;
use crate::media::sdp::Codec;

/// One playable piece of audio.
#[derive(Debug)]
pub struct Clip {
    pub name: String,
    pub samples: Vec<i16>,
    pub ulaw: Vec<u8>,
    pub alaw: Vec<u8>,
}

impl Clip {
    pub fn from_samples(name: &str, samples: Vec<i16>) -> Clip {
        Clip {
            name: name.to_string(),
            ulaw: samples.iter().map(|&s| g711::ulaw_encode(s)).collect(),
            alaw: samples.iter().map(|&s| g711::alaw_encode(s)).collect(),
            samples,
        }
    }

    pub fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        }
    }

    pub fn millis(&self) -> u64 {
        self.samples.len() as u64 / 8
    }
}

#[derive(Debug, Default)]
pub struct Prompts {
    clips: HashMap<String, Arc<Clip>>,
}

impl Prompts {
    /// Every `*.wav` in `dir`, by file stem. Files in another format are an error that names them.
    pub fn load(dir: &Path) -> anyhow::Result<Prompts> {
        let mut clips = HashMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wav") {
                continue;
            }
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            let mut reader = hound::WavReader::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let spec = reader.spec();
            if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
                anyhow::bail!(
                    "{}: prompts must be 8000 Hz mono 16-bit WAV, this is {} Hz, {} channel(s), {} bit",
                    path.display(),
                    spec.sample_rate,
                    spec.channels,
                    spec.bits_per_sample
                );
            }
            let samples = reader
                .samples::<i16>()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            clips.insert(name.clone(), Arc::new(Clip::from_samples(&name, samples)));
        }
        Ok(Prompts { clips })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Clip>> {
        self.clips.get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.clips.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.clips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// Add or replace a clip (tests, generated tones).
    pub fn insert(&mut self, clip: Clip) {
        self.clips.insert(clip.name.clone(), Arc::new(clip));
    }
}

/// Prompt names that speak a number 0–999,999 ("n20", "n5" …, "hundred", "thousand").
pub fn say_number(n: u32) -> Vec<String> {
    fn below_thousand(n: u32, out: &mut Vec<String>) {
        if n >= 100 {
            out.push(format!("n{}", n / 100));
            out.push("hundred".into());
        }
        let rest = n % 100;
        if rest == 0 {
            return;
        }
        if rest < 20 {
            out.push(format!("n{rest}"));
        } else {
            out.push(format!("n{}", rest / 10 * 10));
            if !rest.is_multiple_of(10) {
                out.push(format!("n{}", rest % 10));
            }
        }
    }
    let mut out = vec![];
    if n == 0 {
        return vec!["n0".into()];
    }
    let n = n.min(999_999);
    if n >= 1000 {
        below_thousand(n / 1000, &mut out);
        out.push("thousand".into());
    }
    below_thousand(n % 1000, &mut out);
    out
}

/// Prompt names that spell a string digit by digit (letters are skipped except X, used in
/// some serial numbers; `*` and `#` are named).
pub fn say_digits(s: &str) -> Vec<String> {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(format!("n{c}")),
            'x' | 'X' => Some("letter_x".into()),
            '*' => Some("star".into()),
            '#' => Some("hash".into()),
            _ => None,
        })
        .collect()
}

/// A date as "<month> <day> <year>", e.g. "March fifteen two thousand twenty seven".
pub fn say_date(d: chrono::NaiveDate) -> Vec<String> {
    use chrono::Datelike;
    let mut out = vec![format!("month{}", d.month())];
    out.extend(say_number(d.day()));
    out.extend(say_number(d.year().max(0) as u32));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_digits_and_dates_become_prompt_names() {
        assert_eq!(say_number(0), ["n0"]);
        assert_eq!(say_number(17), ["n17"]);
        assert_eq!(say_number(40), ["n40"]);
        assert_eq!(say_number(2027), ["n2", "thousand", "n20", "n7"]);
        assert_eq!(say_number(315), ["n3", "hundred", "n15"]);
        assert_eq!(say_number(342), ["n3", "hundred", "n40", "n2"]);
        assert_eq!(say_digits("A7x-0#"), ["n7", "letter_x", "n0", "hash"]);
        let d = chrono::NaiveDate::from_ymd_opt(2027, 3, 15).unwrap();
        assert_eq!(say_date(d), ["month3", "n15", "n2", "thousand", "n20", "n7"]);
    }

    #[test]
    fn the_shipped_prompts_load_and_cover_every_generated_name() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ivr-scripts/prompts");
        let p = Prompts::load(&dir).unwrap();
        for n in (0..20).chain((20..100).step_by(10)) {
            assert!(p.contains(&format!("n{n}")), "n{n}");
        }
        for m in 1..=12 {
            assert!(p.contains(&format!("month{m}")));
        }
        let welcome = p.get("welcome").unwrap();
        assert!(welcome.millis() > 500, "spoken, not empty");
        let peak = welcome.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 8000, "normalised speech, peak {peak}");
    }

    /// Talk-off: none of the spoken prompts (about three minutes of speech) looks like a key.
    #[test]
    fn speech_is_not_taken_for_dtmf() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ivr-scripts/prompts");
        let p = Prompts::load(&dir).unwrap();
        let mut seconds = 0;
        for clip in p.clips.values() {
            let mut det = crate::media::dtmf::ToneDetector::default();
            let digits: String = clip
                .samples
                .chunks_exact(crate::media::dtmf::BLOCK)
                .filter_map(|b| det.on_block(b))
                .collect();
            assert_eq!(digits, "", "{} detected as DTMF", clip.name);
            seconds += clip.millis() / 1000;
        }
        assert!(seconds > 60, "{seconds} s of speech checked");
    }
}
