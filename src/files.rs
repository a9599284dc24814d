//! Folders: the files banc reads under a folder (documents, value sets, scenario files), in a
//! stable order.

use std::path::{Path, PathBuf};

/// Files under `dir` (recursed, links followed, sorted by name) whose extension is one of `exts`
/// (lower case; matched case-insensitively).
pub fn under(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| exts.contains(&x.to_string_lossy().to_ascii_lowercase().as_str()))
        })
        .collect()
}

/// The bytes of `path`, refused beyond `max` bytes (a message, an acknowledgement: never a
/// device or a file that would fill memory).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{} : {e}", path.display()))?;
    if meta.len() > max {
        return Err(format!(
            "{} : plus de {} Mo, non lu",
            path.display(),
            max / (1024 * 1024)
        ));
    }
    std::fs::read(path).map_err(|e| format!("{} : {e}", path.display()))
}
