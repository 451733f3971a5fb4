//! The flows of a directory (`*.toml`), with their prompts and the ACD's queues (`queues.toml`).
//! `reload` picks up changed, new and removed files; a file that no longer validates is reported
//! with file and line and the last good version of it stays in service. Calls in progress keep
//! the version they started with. Flows and queues are checked against each other: a flow may
//! only send callers to a queue `queues.toml` defines, and a `queues.toml` that drops a queue a
//! flow still uses is refused (naming the flow's file and line).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::queues::{self, QueueDef};
use telephony::ivr::script::{self, Script, ScriptError};
use telephony::media::prompts::Prompts;

struct Entry {
    file: PathBuf,
    modified: Option<SystemTime>,
    script: Arc<Script>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Loaded(PathBuf),
    Removed(PathBuf),
    /// `queues.toml` changed and its queues are now in service (see [`Library::queue_defs`]).
    QueuesLoaded(PathBuf),
    /// The file is broken; the previous version (if any) stays in service.
    Rejected(ScriptError),
}

pub struct Library {
    dir: PathBuf,
    prompts: Arc<Prompts>,
    entries: RwLock<Vec<Entry>>,
    /// Broken files with no good version, by the time they were last reported.
    broken: std::sync::Mutex<std::collections::HashMap<PathBuf, Option<SystemTime>>>,
    /// The queues in service, and the modification time of the `queues.toml` last looked at
    /// (good or refused, so a refused version is reported once).
    queues: RwLock<(Option<SystemTime>, Vec<QueueDef>)>,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn flow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        // The ACD's queues live beside the flows but are not a flow.
        .filter(|p| p.file_name().and_then(|n| n.to_str()) != Some(crate::queues::FILE))
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
            queues: RwLock::new((modified(&dir.join(queues::FILE)), queues::load(dir)?)),
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

    /// The ACD's queues in service.
    pub fn queue_defs(&self) -> Vec<QueueDef> {
        self.queues.read().expect("lock").1.clone()
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
        let queues_file = self.dir.join(queues::FILE);
        let mut queues = self.queues.write().expect("lock");
        let queues_m = modified(&queues_file);
        // A changed queues.toml: its queues, if it parses (else reported, and the old ones stay).
        let mut candidate: Option<Vec<QueueDef>> = None;
        if queues_m != queues.0 {
            queues.0 = queues_m;
            match queues::load(&self.dir) {
                Ok(defs) => candidate = Some(defs),
                Err(e) => changes.push(Change::Rejected(e)),
            }
        }
        let names = |defs: &[QueueDef]| defs.iter().map(|q| q.acd.name.clone()).collect::<Vec<String>>();
        let mut entries = self.entries.write().expect("lock");
        let mut broken = self.broken.lock().expect("lock");
        entries.retain(|e| {
            let keep = files.contains(&e.file);
            if !keep {
                changes.push(Change::Removed(e.file.clone()));
            }
            keep
        });
        // The flows that changed, parsed.
        let mut fresh = vec![];
        for file in files {
            let m = modified(&file);
            let known = entries.iter().position(|e| e.file == file);
            let seen = match known {
                Some(i) => entries[i].modified == m,
                None => broken.get(&file) == Some(&m),
            };
            if !seen {
                let parsed = script::load(&file, &has_prompt);
                fresh.push((file, m, known, parsed));
            }
        }
        // A new queues.toml goes into service only if every flow staying in service fits it: the
        // unchanged ones, and changed ones whose new version is broken or does not fit.
        let mut accepted = None;
        if let Some(c) = candidate {
            let n = names(&c);
            let fits_new: Vec<&PathBuf> = fresh
                .iter()
                .filter(|(_, _, _, r)| matches!(r, Ok(s) if s.unknown_queue(&n).is_none()))
                .map(|(f, ..)| f)
                .collect();
            let conflict = entries
                .iter()
                .filter(|e| !fits_new.contains(&&e.file))
                .find_map(|e| e.script.unknown_queue(&n));
            match conflict {
                None => accepted = Some(c),
                Some(e) => changes.push(Change::Rejected(ScriptError {
                    message: format!(
                        "{} not applied, the queues in service stay: {}",
                        queues::FILE,
                        e.message
                    ),
                    ..e
                })),
            }
        }
        let in_service = names(accepted.as_deref().unwrap_or(&queues.1));
        for (file, m, known, parsed) in fresh {
            let checked = parsed.and_then(|s| match s.unknown_queue(&in_service) {
                Some(e) => Err(e),
                None => Ok(s),
            });
            match checked {
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
        if let Some(defs) = accepted {
            queues.1 = defs;
            changes.push(Change::QueuesLoaded(queues_file));
            // Flows refused for a queue that may exist now are looked at again next time.
            broken.clear();
            for e in entries.iter_mut() {
                e.modified = None;
            }
        }
        entries.sort_by(|a, b| a.file.cmp(&b.file));
        changes
    }
}
