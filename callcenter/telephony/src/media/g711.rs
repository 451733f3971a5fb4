//! G.711 µ-law and A-law (ITU-T G.711), sample by sample. Decoding goes through 256-entry tables.

use std::sync::OnceLock;

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    let exponent = 31 - ((s >> 7) | 1).leading_zeros() as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

fn ulaw_decode_slow(u: u8) -> i16 {
    let u = !u as i32;
    let exponent = (u >> 4) & 7;
    let mantissa = u & 0x0F;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = (sample as i32) >> 3;
    let mask = if s >= 0 {
        0xD5
    } else {
        s = -s - 1;
        0x55
    };
    let Some(seg) = ALAW_SEG_END.iter().position(|&end| s <= end) else {
        return (0x7F ^ mask) as u8;
    };
    let mut a = (seg as i32) << 4;
    a |= if seg < 2 { (s >> 1) & 0x0F } else { (s >> seg) & 0x0F };
    (a ^ mask) as u8
}

fn alaw_decode_slow(a: u8) -> i16 {
    let a = (a ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

fn tables() -> &'static ([i16; 256], [i16; 256]) {
    static T: OnceLock<([i16; 256], [i16; 256])> = OnceLock::new();
    T.get_or_init(|| {
        let mut u = [0; 256];
        let mut a = [0; 256];
        for i in 0..256 {
            u[i] = ulaw_decode_slow(i as u8);
            a[i] = alaw_decode_slow(i as u8);
        }
        (u, a)
    })
}

pub fn ulaw_decode(u: u8) -> i16 {
    tables().0[u as usize]
}

pub fn alaw_decode(a: u8) -> i16 {
    tables().1[a as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_known_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn round_trip_error_is_within_the_quantisation_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            for (enc, dec) in [
                (ulaw_encode as fn(i16) -> u8, ulaw_decode as fn(u8) -> i16),
                (alaw_encode, alaw_decode),
            ] {
                let back = dec(enc(s)) as i32;
                let err = (back - s as i32).abs();
                // Logarithmic coding: the step grows with the magnitude (about 1/16 of it).
                let allowed = 64.max((s as i32).abs() / 14);
                assert!(err <= allowed, "{s} -> {back}");
            }
        }
        // Every code decodes and re-encodes to itself (except µ-law's negative zero).
        for c in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(c)), c);
            if c != 0x7F {
                assert_eq!(ulaw_encode(ulaw_decode(c)), c, "{c:#x}");
            }
        }
    }
}
