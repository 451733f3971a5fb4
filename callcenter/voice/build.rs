//! Pack the shipped IVR flows and prompts (`../../ivr-scripts`) into one file that the crate embeds
//! with `include_bytes!`, so `aftercare serve` works from any directory: on first start it writes
//! them to its data directory. The format is what `shipped()` in `lib.rs` reads: per file, its
//! path under the flow directory, a NUL byte, its length as 8 bytes little-endian, its bytes.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ivr-scripts");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed={}", root.join("prompts").display());
    let mut files = vec![];
    for (dir, prefix) in [(root.clone(), ""), (root.join("prompts"), "prompts/")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
            if matches!(ext, "toml" | "wav" | "md" | "tsv" | "sh") && p.is_file() {
                let name = format!("{prefix}{}", p.file_name().unwrap().to_string_lossy());
                files.push((name, p.canonicalize().unwrap()));
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for (name, path) in files {
        let bytes = std::fs::read(&path).unwrap();
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("shipped.bin");
    std::fs::write(dest, out).unwrap();
}
