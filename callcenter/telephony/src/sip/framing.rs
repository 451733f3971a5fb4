//! Message framing on stream transports (RFC 3261 §18.3): a message ends after its header
//! section (the first empty line) plus Content-Length octets of body. CRLFs between messages are
//! keep-alives (RFC 5626 §3.5.1) and are skipped.

use super::message::MAX_MESSAGE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed.
    Partial,
    /// `skip` keep-alive octets, then a message of `len` octets.
    Message { skip: usize, len: usize },
    /// Only keep-alive octets so far (consume them).
    KeepAlive(usize),
}

/// The stream cannot be framed any more (the connection is to be closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken(pub &'static str);

pub fn next_frame(buf: &[u8]) -> Result<Frame, Broken> {
    let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    if skip == buf.len() {
        return Ok(if skip == 0 {
            Frame::Partial
        } else {
            Frame::KeepAlive(skip)
        });
    }
    let rest = &buf[skip..];
    let Some(end) = find(rest, b"\r\n\r\n") else {
        if rest.len() > MAX_MESSAGE {
            return Err(Broken("header section too large"));
        }
        return Ok(Frame::Partial);
    };
    let head = &rest[..end];
    let mut length = 0usize;
    for line in head.split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            length = value
                .trim()
                .parse()
                .map_err(|_| Broken("Content-Length is not a number"))?;
        }
    }
    let len = end + 4 + length;
    if len > MAX_MESSAGE {
        return Err(Broken("message too large"));
    }
    if rest.len() < len {
        return Ok(Frame::Partial);
    }
    Ok(Frame::Message { skip, len })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_content_length() {
        let one = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(one);
        stream.extend_from_slice(b"INVITE sip:b SIP/2.0\r\nl: 2\r\n\r\nx");
        assert_eq!(
            next_frame(&stream),
            Ok(Frame::Message {
                skip: 4,
                len: one.len()
            })
        );
        let rest = &stream[4 + one.len()..];
        assert_eq!(next_frame(rest), Ok(Frame::Partial), "body incomplete");
        assert_eq!(next_frame(b"\r\n\r\n"), Ok(Frame::KeepAlive(4)));
        assert_eq!(next_frame(b""), Ok(Frame::Partial));
        assert_eq!(
            next_frame(b"BYE x SIP/2.0\r\n\r\n"),
            Ok(Frame::Message { skip: 0, len: 17 })
        );
    }

    #[test]
    fn oversized_or_unframeable_streams_are_broken() {
        let big = vec![b'a'; MAX_MESSAGE + 1];
        assert!(next_frame(&big).is_err());
        assert!(next_frame(b"X sip:a SIP/2.0\r\nContent-Length: lots\r\n\r\n").is_err());
        assert!(next_frame(b"X sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\n").is_err());
    }
}
