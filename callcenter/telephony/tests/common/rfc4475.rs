//! The RFC 4475 torture messages and what a user-agent server must do with each
//! (`tests/fixtures/rfc4475/EXPECTED.tsv`), read once for the message-layer tests
//! (`tests/rfc4475.rs`) and the live run against the service (`tests/e2e/torture.rs`).

/// The fixtures' folder, found from whichever package includes this file (telephony or the e2e
/// suite): the first ancestor of the package that holds `callcenter/telephony/tests/fixtures`.
fn dir() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("callcenter/telephony/tests/fixtures/rfc4475"))
        .find(|d| d.is_dir())
        .expect("callcenter/telephony/tests/fixtures/rfc4475 above the package")
}

pub struct Row {
    pub file: String,
    pub kind: String,
    pub expected: String,
}

pub fn rows() -> Vec<Row> {
    let tsv = std::fs::read_to_string(dir().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].into(),
                kind: f[2].into(),
                expected: f[3].into(),
            }
        })
        .collect()
}

pub fn message(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{file}.dat"))).expect("fixture")
}
