//! Files: those banc reads under a folder (documents, value sets, scenario files), in a stable
//! order, and the one bounded way to read a file given by path (regular files only).

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

/// Largest text file banc reads beside documents: a configuration, a suite or participants
/// file, a PEM certificate or key, a password (they are a few KB).
pub const MAX_SMALL: u64 = 4 * 1024 * 1024;

/// Largest document, package, message or attachment read from a path given on the command line
/// (the default `--max-size` of `banc validate`).
pub const MAX_DOCUMENT: u64 = 64 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum Unread {
    /// A FIFO, a device, a socket or a folder: reading it could block forever or never end.
    #[error("ce n'est pas un fichier ordinaire ({0}) : banc ne lit que des fichiers")]
    NotAFile(&'static str),
    #[error("fichier de plus de {max} octets (la limite pour ce fichier), non lu")]
    TooLarge { max: u64 },
    #[error("le fichier n'est pas du texte UTF-8")]
    NotUtf8,
    #[error("lecture impossible : {0}")]
    Io(#[from] std::io::Error),
}

/// A file that could not be read, and why.
#[derive(Debug, thiserror::Error)]
#[error("{} : {reason}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    pub reason: Unread,
}

/// For the many callers whose errors are sentences.
impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        e.to_string()
    }
}

/// What kind of non-file `t` is, in the words of the error.
fn not_a_file(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("un dossier")
    } else if t.is_fifo() {
        Some("un tube nommé")
    } else if t.is_char_device() || t.is_block_device() {
        Some("un périphérique")
    } else if t.is_socket() {
        Some("une socket")
    } else {
        Some("type inconnu")
    }
}

/// `path` opened for reading, if it is a regular file (links followed). Checked before opening
/// (a FIFO would block `open`) and again on the open file, and opened with `O_NONBLOCK` so a FIFO
/// swapped in between cannot block either (the flag does nothing to a regular file's reads).
pub fn open(path: &Path) -> Result<std::fs::File, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |reason| ReadError {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.into()))?;
    if let Some(kind) = not_a_file(meta.file_type()) {
        return Err(err(Unread::NotAFile(kind)));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| err(e.into()))?;
    let meta = f.metadata().map_err(|e| err(e.into()))?;
    if let Some(kind) = not_a_file(meta.file_type()) {
        return Err(err(Unread::NotAFile(kind)));
    }
    Ok(f)
}

/// The bytes of a file given to banc, never more than `max` (the file may grow while read): the
/// one way banc reads a file from a path it was given, so that neither a FIFO, a device nor a
/// huge file can hang it or fill its memory.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let f = open(path)?;
    let err = |reason| ReadError {
        path: path.to_path_buf(),
        reason,
    };
    let size = f.metadata().map_err(|e| err(e.into()))?.len();
    if size > max {
        return Err(err(Unread::TooLarge { max }));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    f.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.into()))?;
    if bytes.len() as u64 > max {
        return Err(err(Unread::TooLarge { max }));
    }
    Ok(bytes)
}

/// [`read_bounded`] for a text file (UTF-8; a leading byte-order mark is kept).
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, max)?).map_err(|_| ReadError {
        path: path.to_path_buf(),
        reason: Unread::NotUtf8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("banc-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tmp("fifo");
        let fifo = d.join("f");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_bounded(&fifo, 10).unwrap_err();
        assert!(matches!(e.reason, Unread::NotAFile("un tube nommé")), "{e}");
        assert!(e.to_string().contains("pas un fichier ordinaire"), "{e}");
    }

    #[test]
    fn devices_and_folders_are_refused() {
        let e = read_bounded(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(
            matches!(e.reason, Unread::NotAFile("un périphérique")),
            "{e}"
        );
        let e = read_bounded(&std::env::temp_dir(), 10).unwrap_err();
        assert!(matches!(e.reason, Unread::NotAFile("un dossier")), "{e}");
    }

    #[test]
    fn a_file_over_the_bound_is_refused_naming_it() {
        let d = tmp("big");
        std::fs::write(d.join("a"), b"0123456789").unwrap();
        assert_eq!(read_bounded(&d.join("a"), 10).unwrap(), b"0123456789");
        let e = read_bounded(&d.join("a"), 9).unwrap_err();
        assert!(e.to_string().contains("plus de 9 octets"), "{e}");
        std::fs::write(d.join("b"), [0xFF, 0xFE]).unwrap();
        assert!(matches!(
            read_text(&d.join("b"), 9).unwrap_err().reason,
            Unread::NotUtf8
        ));
    }
}
