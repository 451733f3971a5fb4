//! SDP offer/answer (RFC 3264) for what this service does: one audio stream of G.711 (PCMU or
//! PCMA, 8 kHz, no transcoding) plus RFC 4733 telephone-event. The answer keeps the offer's
//! m-lines in order and refuses the ones we cannot do with port 0; an offer with no usable audio
//! stream gets 488 Not Acceptable Here.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// Largest SDP body we read.
pub const MAX_SDP: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// Our direction for the peer's.
    fn mirror(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<IpAddr>,
    /// `(payload type, encoding name, clock rate)` from a=rtpmap.
    pub rtpmap: Vec<(u8, String, u32)>,
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<Media>,
}

/// What was agreed for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    pub codec: Codec,
    /// The peer's payload type for telephone-event, if it offered one at 8 kHz.
    pub dtmf_pt: Option<u8>,
    /// Where the peer wants our RTP (before symmetric-RTP latching corrects it).
    pub remote: SocketAddr,
    pub direction: Direction,
    /// Index of the audio m-line in the offer.
    pub index: usize,
}

/// Why an offer was refused: the SIP status and a reason phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: u16,
    pub reason: String,
}

fn refuse(code: u16, reason: impl Into<String>) -> Refused {
    Refused {
        code,
        reason: reason.into(),
    }
}

pub fn parse(body: &[u8]) -> Result<Session, Refused> {
    if body.len() > MAX_SDP {
        return Err(refuse(488, "SDP too large"));
    }
    let text = std::str::from_utf8(body).map_err(|_| refuse(400, "SDP is not UTF-8"))?;
    let mut session = Session {
        connection: None,
        direction: None,
        media: vec![],
    };
    let mut seen_v = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(refuse(400, "SDP line without '='"));
        };
        if k.len() != 1 {
            return Err(refuse(400, "SDP line type must be one letter"));
        }
        if !seen_v {
            if k != "v" || v != "0" {
                return Err(refuse(400, "SDP must start with v=0"));
            }
            seen_v = true;
            continue;
        }
        match k {
            "c" => {
                let addr = parse_connection(v)?;
                match session.media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => session.connection = Some(addr),
                }
            }
            "m" => session.media.push(parse_media(v)?),
            "a" => {
                let (name, value) = v.split_once(':').unwrap_or((v, ""));
                let dir = match name {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                match (session.media.last_mut(), dir) {
                    (None, Some(d)) => session.direction = Some(d),
                    (Some(m), Some(d)) => m.direction = Some(d),
                    (Some(m), None) if name == "rtpmap" => {
                        if let Some(entry) = parse_rtpmap(value) {
                            m.rtpmap.push(entry);
                        }
                    }
                    (Some(m), None) if name == "ptime" => m.ptime = value.trim().parse().ok(),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !seen_v {
        return Err(refuse(400, "empty SDP"));
    }
    Ok(session)
}

fn parse_connection(v: &str) -> Result<IpAddr, Refused> {
    let mut it = v.split_whitespace();
    let (net, _addrtype, addr) = (it.next(), it.next(), it.next());
    if net != Some("IN") {
        return Err(refuse(488, "connection network type is not IN"));
    }
    let addr = addr.ok_or_else(|| refuse(400, "c= line without address"))?;
    // Multicast TTL suffixes ("/127") are not for us; keep the address part.
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse().map_err(|_| refuse(488, "c= address is not an IP address"))
}

fn parse_media(v: &str) -> Result<Media, Refused> {
    let mut it = v.split_whitespace();
    let kind = it.next().ok_or_else(|| refuse(400, "empty m= line"))?.to_string();
    let port = it.next().ok_or_else(|| refuse(400, "m= line without port"))?;
    let port = port.split('/').next().unwrap_or(port);
    let port = port.parse().map_err(|_| refuse(400, "m= port is not a number"))?;
    let proto = it
        .next()
        .ok_or_else(|| refuse(400, "m= line without protocol"))?
        .to_string();
    let formats: Vec<String> = it.map(str::to_string).collect();
    if formats.is_empty() {
        return Err(refuse(400, "m= line without formats"));
    }
    Ok(Media {
        kind,
        port,
        proto,
        formats,
        connection: None,
        rtpmap: vec![],
        direction: None,
        ptime: None,
    })
}

fn parse_rtpmap(v: &str) -> Option<(u8, String, u32)> {
    let (pt, rest) = v.trim().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let name = parts.next()?.to_string();
    let rate = parts.next()?.parse().ok()?;
    Some((pt.parse().ok()?, name, rate))
}

impl Media {
    /// Encoding name and rate of a payload type (static types need no rtpmap).
    fn encoding(&self, pt: u8) -> Option<(String, u32)> {
        if let Some((_, name, rate)) = self.rtpmap.iter().find(|(p, ..)| *p == pt) {
            return Some((name.to_ascii_uppercase(), *rate));
        }
        match pt {
            0 => Some(("PCMU".into(), 8000)),
            8 => Some(("PCMA".into(), 8000)),
            _ => None,
        }
    }
}

/// Choose what to answer: the first G.711 codec in the offerer's order, and telephone-event.
pub fn negotiate(offer: &Session) -> Result<Agreed, Refused> {
    let mut saw_secure = false;
    for (index, m) in offer.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 {
            continue;
        }
        if m.proto != "RTP/AVP" {
            saw_secure |= m.proto.contains("SAVP");
            continue;
        }
        let mut codec = None;
        let mut dtmf_pt = None;
        for f in &m.formats {
            let Ok(pt) = f.parse::<u8>() else { continue };
            match m.encoding(pt) {
                Some((name, 8000)) if name == "PCMU" && codec.is_none() => codec = Some(Codec::Pcmu),
                Some((name, 8000)) if name == "PCMA" && codec.is_none() => codec = Some(Codec::Pcma),
                Some((name, 8000)) if name == "TELEPHONE-EVENT" && dtmf_pt.is_none() => dtmf_pt = Some(pt),
                _ => {}
            }
        }
        let Some(codec) = codec else { continue };
        let Some(ip) = m.connection.or(offer.connection) else {
            return Err(refuse(400, "no c= line for the audio stream"));
        };
        let direction = m.direction.or(offer.direction).unwrap_or(Direction::SendRecv).mirror();
        return Ok(Agreed {
            codec,
            dtmf_pt,
            remote: SocketAddr::new(ip, m.port),
            direction,
            index,
        });
    }
    if saw_secure {
        return Err(refuse(488, "SRTP is not offered by this service; use RTP/AVP"));
    }
    Err(refuse(488, "no audio stream with PCMU or PCMA at 8000 Hz"))
}

/// Our SDP (an offer when `offer` is `None`, else the answer to it). `session_id` must rise with
/// each new version from the same origin.
pub fn write(local: SocketAddr, agreed: Option<&Agreed>, offer: Option<&Session>, session_id: u64) -> Vec<u8> {
    let ip = local.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "v=0\r\no=aftercare {session_id} {session_id} IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
    );
    let audio = |s: &mut String, codec: Option<Codec>, dtmf_pt: Option<u8>, dir: Direction| {
        let mut fmts: Vec<String> = match codec {
            Some(c) => vec![c.payload_type().to_string()],
            None => vec!["0".into(), "8".into()],
        };
        let dtmf = dtmf_pt.unwrap_or(101);
        fmts.push(dtmf.to_string());
        let _ = write!(s, "m=audio {} RTP/AVP {}\r\n", local.port(), fmts.join(" "));
        match codec {
            Some(c) => {
                let _ = write!(s, "a=rtpmap:{} {}/8000\r\n", c.payload_type(), c.name());
            }
            None => s.push_str("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"),
        }
        let _ = write!(
            s,
            "a=rtpmap:{dtmf} telephone-event/8000\r\na=fmtp:{dtmf} 0-16\r\na=ptime:20\r\na={}\r\n",
            dir.attr()
        );
    };
    match (agreed, offer) {
        (Some(a), Some(offer)) => {
            for (i, m) in offer.media.iter().enumerate() {
                if i == a.index {
                    // Telephone-event is only answered when offered.
                    let mut tmp = String::new();
                    audio(&mut tmp, Some(a.codec), a.dtmf_pt, a.direction);
                    if a.dtmf_pt.is_none() {
                        tmp = tmp
                            .lines()
                            .filter(|l| !l.contains("telephone-event") && !l.starts_with("a=fmtp:"))
                            .map(|l| {
                                if l.starts_with("m=audio") {
                                    format!("m=audio {} RTP/AVP {}\r\n", local.port(), a.codec.payload_type())
                                } else {
                                    format!("{l}\r\n")
                                }
                            })
                            .collect();
                    }
                    s.push_str(&tmp);
                } else {
                    let _ = write!(s, "m={} 0 {} {}\r\n", m.kind, m.proto, m.formats[0]);
                }
            }
        }
        _ => audio(&mut s, None, None, Direction::SendRecv),
    }
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=user 1 1 IN IP4 192.0.2.10\r\ns=call\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
        m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
        m=audio 4000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

    #[test]
    fn answers_the_first_g711_codec_and_telephone_event() {
        let offer = parse(OFFER.as_bytes()).unwrap();
        let a = negotiate(&offer).unwrap();
        assert_eq!(a.codec, Codec::Pcma);
        assert_eq!(a.dtmf_pt, Some(101));
        assert_eq!(a.remote, "192.0.2.10:4000".parse().unwrap());
        assert_eq!(a.index, 1);
        let answer = write("198.51.100.1:20000".parse().unwrap(), Some(&a), Some(&offer), 7);
        let answer = String::from_utf8(answer).unwrap();
        let back = parse(answer.as_bytes()).unwrap();
        assert_eq!(back.media.len(), 2, "one answer m-line per offered m-line:\n{answer}");
        assert_eq!(back.media[0].port, 0, "video refused");
        assert_eq!(back.media[1].formats, vec!["8", "101"]);
        assert_eq!(back.media[1].port, 20000);
    }

    #[test]
    fn no_telephone_event_in_the_answer_when_not_offered() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\n";
        let offer = parse(offer.as_bytes()).unwrap();
        let a = negotiate(&offer).unwrap();
        assert_eq!(
            (a.codec, a.dtmf_pt, a.direction),
            (Codec::Pcmu, None, Direction::RecvOnly)
        );
        let answer = String::from_utf8(write("10.0.0.2:20002".parse().unwrap(), Some(&a), Some(&offer), 1)).unwrap();
        assert!(answer.contains("m=audio 20002 RTP/AVP 0\r\n"), "{answer}");
        assert!(!answer.contains("telephone-event"), "{answer}");
        assert!(answer.contains("a=recvonly"), "{answer}");
    }

    #[test]
    fn refuses_what_we_cannot_do() {
        let g729 = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
        assert_eq!(negotiate(&parse(g729.as_bytes()).unwrap()).unwrap_err().code, 488);
        let srtp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n";
        let e = negotiate(&parse(srtp.as_bytes()).unwrap()).unwrap_err();
        assert_eq!(e.code, 488);
        assert!(e.reason.contains("SRTP"));
        let wideband = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n";
        assert_eq!(negotiate(&parse(wideband.as_bytes()).unwrap()).unwrap_err().code, 488);
        assert_eq!(parse(b"x=1\r\n").unwrap_err().code, 400);
        assert_eq!(parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n").unwrap_err().code, 400);
        let no_c = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(negotiate(&parse(no_c.as_bytes()).unwrap()).unwrap_err().code, 400);
    }

    #[test]
    fn our_offer_lists_both_codecs() {
        let offer = String::from_utf8(write("10.0.0.2:20004".parse().unwrap(), None, None, 3)).unwrap();
        let s = parse(offer.as_bytes()).unwrap();
        assert_eq!(s.media[0].formats, vec!["0", "8", "101"]);
        assert_eq!(negotiate(&s).unwrap().codec, Codec::Pcmu);
    }
}
