//! The SIP message layer: a strict RFC 3261 parser for one datagram (or one framed TCP message).
//!
//! It sits in front of rsip because rsip 0.4 alone, measured on the RFC 4475 torture suite, refuses
//! 6 of the 13 valid messages (extension methods, escaped URIs, folded or very long headers, `;`
//! in the user part) and accepts 13 of the 20 syntactically invalid ones. Here every refusal says
//! what a UAS must do with it: answer 400, answer 505, or drop silently (responses are never
//! answered). Nothing in here panics on any input; the fuzz-style test feeds it every prefix and
//! mutation of the torture messages.

use std::fmt;

/// Largest message accepted (UDP datagrams are smaller; TCP framing enforces it too).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most header fields in one message.
pub const MAX_HEADERS: usize = 256;
/// Longest header field (name and value, after unfolding).
pub const MAX_HEADER_FIELD: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Canonical long form (`Call-ID` for `i`, `Content-Length` for `l`, …).
    pub name: String,
    /// The value with folding undone and surrounding whitespace trimmed.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

/// What to do with input that is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Answer with this status (400 or 505) — only ever for requests.
    Respond(u16, String),
    /// Do not answer (broken responses, unparseable garbage).
    Drop(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Respond(code, why) => write!(f, "{code}: {why}"),
            Refusal::Drop(why) => write!(f, "dropped: {why}"),
        }
    }
}

const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
];

const KNOWN: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Organization",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Record-Route",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "Server",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
    "Event",
    "Refer-To",
    "Referred-By",
    "Allow-Events",
    "Session-Expires",
];

/// Header fields that may appear once only (RFC 3261 §7.3.1 and 20).
const SINGLE: &[&str] = &[
    "Call-ID",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Expires",
    "From",
    "Max-Forwards",
    "To",
    "MIME-Version",
    "Min-Expires",
    "Organization",
    "Priority",
    "Retry-After",
    "Server",
    "Subject",
    "Timestamp",
    "User-Agent",
];

/// Header fields whose values are name-addr / addr-spec.
const ADDRESS: &[&str] = &[
    "From",
    "To",
    "Contact",
    "Route",
    "Record-Route",
    "Reply-To",
    "Refer-To",
    "Referred-By",
];

pub fn canonical_name(raw: &str) -> String {
    if raw.len() == 1 {
        if let Some((_, long)) = COMPACT.iter().find(|(s, _)| s.eq_ignore_ascii_case(raw)) {
            return long.to_string();
        }
    }
    match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(raw)) {
        Some(k) => k.to_string(),
        None => raw.to_string(),
    }
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

impl Message {
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The first value of a header field (by canonical name, case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated value of every field with this name, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| split_commas(&h.value))
    }

    /// `(sequence number, method)` of the CSeq header.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        Some((n, it.next()?))
    }
}

/// Split a header value on commas outside quotes and angle brackets.
pub fn split_commas(v: &str) -> Vec<&str> {
    let mut out = vec![];
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Parse one message. `datagram`: the bytes came in one UDP packet, so octets after the body that
/// Content-Length announces are ignored, and a missing Content-Length means "the rest".
pub fn parse(bytes: &[u8], datagram: bool) -> Result<Message, Refusal> {
    if bytes.len() > MAX_MESSAGE {
        return Err(Refusal::Drop("message too large".into()));
    }
    // Leading CRLFs are keep-alives or padding (RFC 3261 §7.5).
    let start = bytes
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    // The header section ends at the empty line. A datagram is framed by its own boundary, so one
    // that stops without the empty line is all header section (and is then judged on its fields).
    let (head, rest): (&[u8], &[u8]) = match find(bytes, b"\r\n\r\n") {
        Some(end) => (&bytes[..end], &bytes[end + 4..]),
        None if datagram => (bytes.strip_suffix(b"\r\n").unwrap_or(bytes), &[]),
        None => return Err(Refusal::Drop("no end of header section".into())),
    };
    let head = std::str::from_utf8(head).map_err(|_| Refusal::Drop("header section is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let is_response = first.starts_with("SIP/");
    // From here on, a broken response is dropped and a broken request is answered 400.
    let bad = |why: &str| {
        if is_response {
            Refusal::Drop(why.to_string())
        } else {
            Refusal::Respond(400, why.to_string())
        }
    };

    let start = if is_response {
        parse_status_line(first)?
    } else {
        parse_request_line(first)?
    };

    // Unfold and split header fields.
    let mut raw_fields: Vec<String> = vec![];
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            match raw_fields.last_mut() {
                Some(last) => {
                    last.push(' ');
                    last.push_str(line.trim_start());
                }
                None => return Err(bad("continuation line before any header")),
            }
        } else {
            raw_fields.push(line.to_string());
        }
    }
    if raw_fields.len() > MAX_HEADERS {
        return Err(bad("too many header fields"));
    }
    let mut headers = Vec::with_capacity(raw_fields.len());
    for f in &raw_fields {
        if f.len() > MAX_HEADER_FIELD {
            return Err(bad("header field too long"));
        }
        let Some((name, value)) = f.split_once(':') else {
            return Err(bad("header field without a colon"));
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(bad("header field name is not a token"));
        }
        headers.push(Header {
            name: canonical_name(name),
            value: value.trim_matches([' ', '\t']).to_string(),
        });
    }
    let msg = Message {
        start,
        headers,
        body: vec![],
    };
    for single in SINGLE {
        if msg
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(single))
            .count()
            > 1
        {
            return Err(bad(&format!("{single} appears more than once")));
        }
    }
    let body = match msg.header("Content-Length") {
        Some(v) => {
            if !v.bytes().all(|b| b.is_ascii_digit()) || v.is_empty() || v.len() > 9 {
                return Err(bad("Content-Length is not a number"));
            }
            let n: usize = v.parse().map_err(|_| bad("Content-Length is not a number"))?;
            if n > rest.len() {
                return Err(bad("Content-Length is larger than the message"));
            }
            if !datagram && n < rest.len() {
                // A TCP framer hands over exactly one message.
                return Err(bad("octets after the body"));
            }
            rest[..n].to_vec()
        }
        None if datagram => rest.to_vec(),
        None => return Err(bad("Content-Length is required over stream transports")),
    };
    let msg = Message { body, ..msg };
    check_fields(&msg).map_err(|why| bad(&why))?;
    Ok(msg)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_status_line(line: &str) -> Result<StartLine, Refusal> {
    let drop = |why: &str| Refusal::Drop(why.to_string());
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(drop("unsupported SIP version in a response"));
    }
    let code = parts.next().unwrap_or("");
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(drop("status code is not three digits"));
    }
    let code: u16 = code.parse().map_err(|_| drop("status code"))?;
    if !(100..=699).contains(&code) {
        return Err(drop("status code out of range"));
    }
    let reason = parts.next().unwrap_or("").to_string();
    if reason.chars().any(|c| c.is_control() && c != '\t') {
        return Err(drop("control character in the reason phrase"));
    }
    Ok(StartLine::Response { code, reason })
}

fn parse_request_line(line: &str) -> Result<StartLine, Refusal> {
    let bad = |why: &str| Refusal::Respond(400, why.to_string());
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad("Request-Line must be Method SP Request-URI SP SIP-Version"));
    }
    let (method, uri, version) = (parts[0], parts[1], parts[2]);
    if !is_token(method) {
        return Err(bad("method is not a token"));
    }
    if uri.contains(['\t', '<', '>', '"']) {
        return Err(bad("Request-URI contains characters it may not"));
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(bad("Request-URI has no scheme"));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok || rest.is_empty() {
        return Err(bad("Request-URI scheme is malformed"));
    }
    // Header fields start at a '?' after the host; a '?' in the userinfo is legal (RFC 4475 §3.1.1.2).
    let after_userinfo = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if (scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) && after_userinfo.contains('?') {
        return Err(bad("Request-URI may not carry header fields"));
    }
    if !valid_escapes(uri) {
        return Err(bad("Request-URI has a broken % escape"));
    }
    let Some(v) = version.strip_prefix("SIP/").or_else(|| version.strip_prefix("sip/")) else {
        return Err(bad("SIP-Version is malformed"));
    };
    let (major, minor) = v.split_once('.').ok_or_else(|| bad("SIP-Version is malformed"))?;
    if major.is_empty() || minor.is_empty() || !(major.bytes().chain(minor.bytes())).all(|b| b.is_ascii_digit()) {
        return Err(bad("SIP-Version is malformed"));
    }
    if major != "2" || minor != "0" {
        return Err(Refusal::Respond(505, format!("SIP/{v} is not supported")));
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Field-level syntax that RFC 3261 makes a UAS reject.
fn check_fields(m: &Message) -> Result<(), String> {
    if let Some(v) = m.header("Max-Forwards") {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.parse::<u32>().map_or(true, |n| n > 255) {
            return Err("Max-Forwards must be 0 to 255".into());
        }
    }
    if let Some(v) = m.header("CSeq") {
        let mut it = v.split_whitespace();
        let (n, method, extra) = (it.next(), it.next(), it.next());
        let n_ok = n.is_some_and(|n| {
            n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u64>().is_ok_and(|x| x < 1 << 31)
        });
        if !n_ok || !method.is_some_and(is_token) || extra.is_some() {
            return Err("CSeq must be a number below 2^31 and a method".into());
        }
    }
    if let Some(v) = m.header("Expires") {
        if !v.bytes().all(|b| b.is_ascii_digit()) || v.parse::<u32>().is_err() {
            return Err("Expires must be delta-seconds below 2^32".into());
        }
    }
    if let Some(v) = m.header("Date") {
        if !v.trim_end().ends_with(" GMT") {
            return Err("Date must be in GMT".into());
        }
    }
    for name in ADDRESS {
        for value in m.values(name) {
            check_address(value).map_err(|why| format!("{name}: {why}"))?;
        }
    }
    for v in m.values("Via") {
        if !valid_via(v) {
            return Err("Via: sent-protocol must be SIP/2.0/<transport> followed by sent-by".into());
        }
    }
    Ok(())
}

/// `SIP / 2.0 / transport sent-by`, with optional whitespace around the slashes (RFC 3261 SLASH).
fn valid_via(v: &str) -> bool {
    via_parts(v).is_some()
}

/// `(transport, sent-by)` of one Via value, or `None` when it is not one.
fn via_parts(v: &str) -> Option<(&str, &str)> {
    let mut parts = v.splitn(3, '/');
    let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let rest = rest.trim_start();
    let transport_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let (transport, sent_by) = rest.split_at(transport_end);
    let host = sent_by.trim_start().split(';').next().unwrap_or("").trim();
    (name.trim().eq_ignore_ascii_case("SIP")
        && is_token(version.trim())
        && is_token(transport)
        && !host.is_empty()
        && !host.contains(char::is_whitespace))
    .then_some((transport, host))
}

/// The host of a sent-by (`host[:port]`, `[v6]:port`), without the port.
fn host_of(sent_by: &str) -> &str {
    match sent_by.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => sent_by.split(':').next().unwrap_or(sent_by),
    }
}

/// name-addr or addr-spec, followed by parameters.
fn check_address(v: &str) -> Result<(), String> {
    let v = v.trim();
    if v == "*" {
        return Ok(());
    }
    let (display, after) = if let Some(rest) = v.strip_prefix('"') {
        // Quoted display name: find the closing quote, honouring backslash escapes.
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated quoted display name")?;
        (None, rest[end + 1..].trim_start())
    } else if let Some(lt) = v.find('<') {
        (Some(v[..lt].trim()), &v[lt..])
    } else {
        (None, v)
    };
    if let Some(d) = display {
        if !d.split_whitespace().all(is_token) {
            return Err("unquoted display name holds non-token characters".into());
        }
    }
    if let Some(inner) = after.strip_prefix('<') {
        let end = inner.find('>').ok_or("missing > after the URI")?;
        let uri = &inner[..end];
        if uri.is_empty() || uri.contains(char::is_whitespace) {
            return Err("whitespace inside <>".into());
        }
        if !uri.contains(':') {
            return Err("URI has no scheme".into());
        }
    } else {
        if !v.starts_with('"') && after.starts_with(|c: char| c.is_whitespace()) {
            return Err("address is empty".into());
        }
        // addr-spec: the URI runs to the first ';' (header parameters follow); it may not hold
        // '?' or ',' — such URIs must be enclosed in <>.
        let uri = after.split(';').next().unwrap_or("").trim();
        if uri.is_empty() || !uri.contains(':') {
            return Err("not a URI".into());
        }
        if uri.contains(['?', ',', ' ', '<', '>']) {
            return Err("a URI with '?' or ',' must be enclosed in <>".into());
        }
    }
    Ok(())
}

impl Message {
    /// The wire form: start line, header fields in long form, Content-Length, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
            StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
        };
        for h in self.headers.iter().filter(|h| h.name != "Content-Length") {
            out.push_str(&h.name);
            out.push_str(": ");
            out.push_str(&h.value);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// The topmost Via's sent-by (`host[:port]`), in lower case.
    pub fn sent_by(&self) -> Option<String> {
        let via = self.values("Via").next()?;
        via_parts(via).map(|(_, s)| s.to_ascii_lowercase())
    }

    /// RFC 3261 §18.2.1 and RFC 3581: on a request that came from `source`, add `received=` to
    /// the topmost Via when its sent-by is a name or another address (or it asks for `rport`),
    /// and fill in an empty `rport` with the source port. Responses copy the Via, so they tell
    /// the client where its request came from.
    pub fn stamp_source(&mut self, source: std::net::SocketAddr) {
        let Some(h) = self.headers.iter_mut().find(|h| h.name == "Via") else {
            return;
        };
        let Some(top) = split_commas(&h.value).first().copied() else {
            return;
        };
        let start = top.as_ptr() as usize - h.value.as_ptr() as usize;
        let end = start + top.len();
        let Some((_, sent_by)) = via_parts(top) else { return };
        let ip = source.ip().to_canonical();
        let same = host_of(sent_by)
            .parse::<std::net::IpAddr>()
            .is_ok_and(|h| h.to_canonical() == ip);
        let mut params: Vec<String> = top.split(';').map(|p| p.trim().to_string()).collect();
        let mut rport = false;
        for p in params.iter_mut().skip(1) {
            if p.eq_ignore_ascii_case("rport") {
                *p = format!("rport={}", source.port());
                rport = true;
            }
        }
        let has_received = params.iter().skip(1).any(|p| {
            p.split('=')
                .next()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case("received"))
        });
        if (!same || rport) && !has_received {
            params.push(format!("received={ip}"));
        }
        if same && !rport {
            return;
        }
        h.value.replace_range(start..end, &params.join(";"));
    }

    /// The `branch` parameter of the topmost Via.
    pub fn branch(&self) -> Option<&str> {
        let via = self.values("Via").next()?;
        via.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("branch").then(|| v.trim())
        })
    }

    /// A response to this request (RFC 3261 §8.2.6): Via, From, Call-ID and CSeq copied, To
    /// copied with `to_tag` added when it has none.
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let mut headers = vec![];
        for h in &self.headers {
            match h.name.as_str() {
                "Via" | "From" | "Call-ID" | "CSeq" => headers.push(h.clone()),
                "To" => {
                    let mut value = h.value.clone();
                    if let Some(tag) = to_tag {
                        if !value.to_ascii_lowercase().contains(";tag=") {
                            value.push_str(";tag=");
                            value.push_str(tag);
                        }
                    }
                    headers.push(Header {
                        name: "To".into(),
                        value,
                    });
                }
                _ => {}
            }
        }
        Message {
            start: StartLine::Response {
                code,
                reason: reason.to_string(),
            },
            headers,
            body: vec![],
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_folded_headers() {
        let raw = b"OPTIONS sip:a@b.example SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y.example>;tag=1\r\nt: sip:a@b.example\r\ni: abc\r\nCSeq: 1\r\n  OPTIONS\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n";
        let m = parse(raw, true).unwrap();
        assert_eq!(m.header("call-id"), Some("abc"));
        assert_eq!(m.cseq(), Some((1, "OPTIONS")));
        assert_eq!(m.method(), Some("OPTIONS"));
        assert_eq!(m.values("Via").count(), 1);
    }

    #[test]
    fn comma_splitting_respects_quotes_and_brackets() {
        assert_eq!(
            split_commas(r#""a, b" <sip:x@y>, <sip:z@w;x=1,2>, c"#),
            vec![r#""a, b" <sip:x@y>"#, "<sip:z@w;x=1,2>", "c"]
        );
    }

    #[test]
    fn stream_transport_needs_content_length() {
        let raw = b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        assert!(matches!(parse(raw, false), Err(Refusal::Respond(400, _))));
        assert!(parse(raw, true).is_ok());
    }
}
