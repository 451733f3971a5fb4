//! RTP packets (RFC 3550): reading the fixed header and writing ours.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Parse one datagram; `None` for anything that is not RTP version 2 or is cut short.
pub fn parse(buf: &[u8]) -> Option<Packet<'_>> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let padding = buf[0] & 0x20 != 0;
    let extension = buf[0] & 0x10 != 0;
    let csrc = (buf[0] & 0x0F) as usize;
    let mut start = 12 + 4 * csrc;
    if extension {
        let ext = buf.get(start..start + 4)?;
        start += 4 + 4 * u16::from_be_bytes([ext[2], ext[3]]) as usize;
    }
    let mut end = buf.len();
    if padding {
        let pad = *buf.last()? as usize;
        end = end.checked_sub(pad)?;
    }
    if start > end {
        return None;
    }
    Some(Packet {
        payload_type: buf[1] & 0x7F,
        marker: buf[1] & 0x80 != 0,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload: &buf[start..end],
    })
}

/// Append a packet with no CSRC, extension or padding.
pub fn write(out: &mut Vec<u8>, p: &Packet<'_>) {
    out.push(0x80);
    out.push(p.payload_type & 0x7F | if p.marker { 0x80 } else { 0 });
    out.extend_from_slice(&p.seq.to_be_bytes());
    out.extend_from_slice(&p.timestamp.to_be_bytes());
    out.extend_from_slice(&p.ssrc.to_be_bytes());
    out.extend_from_slice(p.payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse() {
        let mut buf = vec![];
        let p = Packet {
            payload_type: 8,
            marker: true,
            seq: 65535,
            timestamp: 0xDEADBEEF,
            ssrc: 42,
            payload: &[1, 2, 3],
        };
        write(&mut buf, &p);
        assert_eq!(buf.len(), 15);
        assert_eq!(parse(&buf), Some(p));
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut buf = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        buf.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // one-word extension
        buf.extend_from_slice(&[0xAA, 0xBB]); // payload
        buf.extend_from_slice(&[0, 2]); // two octets of padding
        assert_eq!(parse(&buf).unwrap().payload, &[0xAA, 0xBB]);
        assert!(parse(&buf[..13]).is_none());
        assert!(parse(&[0x40; 20]).is_none(), "version 1");
    }
}
