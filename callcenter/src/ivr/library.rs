//! The flows of a directory (`*.toml`), with their prompts. `reload` picks up changed, new and
//! removed files; a file that no longer validates is reported with file and line and the last
//! good version of it stays in service. Calls in progress keep the version they started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::script::{self, Script, ScriptError};
use crate::media::prompts::Prompts;

struct Entry {
    file: PathBuf,
    modified: Option<SystemTime>,
    script: Arc<Script>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Loaded(PathBuf),
    Removed(PathBuf),
    /// The file is broken; the previous version (if any) stays in service.
    Rejected(ScriptError),
}

pub struct Library {
    dir: PathBuf,
    prompts: Arc<Prompts>,
    entries: RwLock<Vec<Entry>>,
    /// Broken files with no good version, by the time they were last reported.
    broken: std::sync::Mutex<std::collections::HashMap<PathBuf, Option<SystemTime>>>,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn flow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        // The ACD's queues live beside the flows but are not a flow.
        .filter(|p| p.file_name().and_then(|n| n.to_str()) != Some(crate::center::queues::FILE))
        .collect();
    files.sort();
    Ok(files)
}

impl Library {
    /// Load every flow in `dir`. At start-up a broken flow is an error (with file and line).
    pub fn load(dir: &Path, prompts: Arc<Prompts>) -> Result<Library, anyhow::Error> {
        let lib = Library {
            dir: dir.to_path_buf(),
            prompts,
            entries: RwLock::new(vec![]),
            broken: Default::default(),
        };
        for change in lib.reload() {
            if let Change::Rejected(e) = change {
                return Err(e.into());
            }
        }
        if lib.entries.read().expect("lock").is_empty() {
            anyhow::bail!("{}: no IVR flow (*.toml) found", dir.display());
        }
        Ok(lib)
    }

    pub fn prompts(&self) -> &Arc<Prompts> {
        &self.prompts
    }

    /// The flow with this name (`[flow] name`).
    pub fn script_named(&self, name: &str) -> Option<Arc<Script>> {
        let entries = self.entries.read().expect("lock");
        entries.iter().find(|e| e.script.name == name).map(|e| e.script.clone())
    }

    /// The flow for a called number: the first (by file name) listing it, else the first with `*`.
    pub fn script_for(&self, called: &str) -> Option<Arc<Script>> {
        let entries = self.entries.read().expect("lock");
        entries
            .iter()
            .find(|e| e.script.numbers.iter().any(|n| n == called))
            .or_else(|| entries.iter().find(|e| e.script.answers(called)))
            .map(|e| e.script.clone())
    }

    pub fn names(&self) -> Vec<String> {
        self.entries
            .read()
            .expect("lock")
            .iter()
            .map(|e| e.script.name.clone())
            .collect()
    }

    /// Look at the directory again.
    pub fn reload(&self) -> Vec<Change> {
        let mut changes = vec![];
        let files = match flow_files(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                changes.push(Change::Rejected(ScriptError {
                    file: self.dir.clone(),
                    line: 0,
                    message: e.to_string(),
                }));
                return changes;
            }
        };
        let has_prompt = |name: &str| self.prompts.contains(name);
        let mut entries = self.entries.write().expect("lock");
        let mut broken = self.broken.lock().expect("lock");
        entries.retain(|e| {
            let keep = files.contains(&e.file);
            if !keep {
                changes.push(Change::Removed(e.file.clone()));
            }
            keep
        });
        for file in files {
            let m = modified(&file);
            let known = entries.iter().position(|e| e.file == file);
            let seen = match known {
                Some(i) => entries[i].modified == m,
                None => broken.get(&file) == Some(&m),
            };
            if seen {
                continue;
            }
            match script::load(&file, &has_prompt) {
                Ok(s) => {
                    broken.remove(&file);
                    let entry = Entry {
                        file: file.clone(),
                        modified: m,
                        script: Arc::new(s),
                    };
                    match known {
                        Some(i) => entries[i] = entry,
                        None => entries.push(entry),
                    }
                    changes.push(Change::Loaded(file));
                }
                Err(e) => {
                    // Remember the time so the same broken version is reported once.
                    match known {
                        Some(i) => entries[i].modified = m,
                        None => {
                            broken.insert(file.clone(), m);
                        }
                    }
                    changes.push(Change::Rejected(e));
                }
            }
        }
        entries.sort_by(|a, b| a.file.cmp(&b.file));
        changes
    }
}
