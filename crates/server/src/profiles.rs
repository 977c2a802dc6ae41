//! Vendor profiles on disk (`config/vendors/*.toml`): read at start, read again on SIGHUP or
//! `POST /api/v1/vendor-profiles/reload`. The adapter parses them; this module only reads
//! files, names the file in errors, and hands the current set to the stations.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use zaryad_adapter::{Profile, ProfileSet};

/// Why the profile directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    /// A profile file is invalid: which file, which line, what is wrong.
    #[error("vendor profile {file}:{line}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The directory or a file could not be read.
    #[error("reading vendor profiles at {path}: {source}")]
    Io {
        /// What could not be read.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads every `*.toml` file of `dir` as a profile named after the file. A missing directory
/// is no error: the built-in generic profile then serves every charger.
pub fn load_dir(dir: &Path) -> Result<ProfileSet, ProfilesError> {
    let io = |path: &Path, source| ProfilesError::Io {
        path: path.display().to_string(),
        source,
    };
    if !dir.exists() {
        tracing::warn!(dir = %dir.display(), "no vendor profile directory; only the built-in generic profile applies");
        return Ok(ProfileSet::default());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|error| io(dir, error))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let mut profiles = Vec::new();
    let mut origins = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|error| io(&file, error))?;
        let stem = file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let profile = Profile::from_toml(&stem, &text).map_err(|error| ProfilesError::Invalid {
            file: file.display().to_string(),
            line: error.line,
            reason: error.reason,
        })?;
        origins.push((profile.name().to_owned(), file));
        profiles.push(profile);
    }
    ProfileSet::new(profiles).map_err(|error| ProfilesError::Invalid {
        file: origins
            .iter()
            .find(|(name, _)| *name == error.profile)
            .map_or_else(
                || error.profile.clone(),
                |(_, file)| file.display().to_string(),
            ),
        line: error.line,
        reason: error.reason,
    })
}

/// The profiles in force, shared by every station and the API.
pub struct Profiles {
    dir: PathBuf,
    set: RwLock<Arc<ProfileSet>>,
    generation: AtomicU64,
}

impl Profiles {
    /// Loads `dir`; fails on any invalid file.
    pub fn load(dir: &Path) -> Result<Profiles, ProfilesError> {
        Ok(Profiles {
            dir: dir.to_owned(),
            set: RwLock::new(Arc::new(load_dir(dir)?)),
            generation: AtomicU64::new(0),
        })
    }

    /// The directory the profiles come from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The profiles in force.
    pub fn current(&self) -> Arc<ProfileSet> {
        // A poisoned lock still holds a complete set: it is only ever replaced whole.
        match self.set.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes whenever the profiles or a station's pinned profile change; stations compare
    /// it to choose their profile again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Tells stations to choose their profile again (an operator pinned or unpinned one).
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Reads the directory again. On error the profiles in force stay.
    pub fn reload(&self) -> Result<usize, ProfilesError> {
        let set = Arc::new(load_dir(&self.dir)?);
        let count = set.all().len();
        match self.set.write() {
            Ok(mut current) => *current = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        self.touch();
        tracing::info!(profiles = count, dir = %self.dir.display(), "vendor profiles loaded");
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.toml"), "[[match]]\nvendor = \"A\"\n").unwrap();
        std::fs::write(
            dir.path().join("bad.toml"),
            "description = \"x\"\n[repairs]\nmeter-units = { energy = \"MWh\" }\n",
        )
        .unwrap();
        let error = load_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("bad.toml:3:"), "{error}");
        assert!(error.contains("Wh, kWh"), "{error}");
        std::fs::remove_file(dir.path().join("bad.toml")).unwrap();
        let profiles = Profiles::load(dir.path()).unwrap();
        assert!(profiles.current().get("good").is_some());
        let before = profiles.generation();
        std::fs::write(dir.path().join("more.toml"), "[[match]]\nvendor = \"B\"\n").unwrap();
        assert_eq!(profiles.reload().unwrap(), 3);
        assert!(profiles.generation() > before);
        assert!(profiles.current().get("more").is_some());
    }

    #[test]
    fn a_missing_directory_leaves_the_generic_profile() {
        let set = load_dir(Path::new("/nonexistent/zaryad/vendors")).unwrap();
        assert_eq!(set.all().len(), 1);
    }
}
