//! Unpack a kit archive (tar.gz or zip, told by its first bytes) into a new folder, refusing
//! whatever could write outside it or exhaust the disk: absolute paths, `..`, links of any kind,
//! devices, duplicate entries, more entries or bytes than the bounds. Files are created new
//! (never through an existing path) with default permissions; the archive's modes and owners
//! are not applied.

use super::Bounds;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

pub(super) fn extract(archive: &Path, into: &Path, bounds: Bounds) -> Result<(), String> {
    let mut magic = [0u8; 4];
    let n = File::open(archive)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| e.to_string())?;
    std::fs::create_dir(into).map_err(|e| format!("{} : {e}", into.display()))?;
    let mut out = Out {
        root: into.to_path_buf(),
        bounds,
        entries: 0,
        bytes: 0,
    };
    match &magic[..n] {
        [0x1f, 0x8b, ..] => tar_gz(archive, &mut out),
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => zip(archive, &mut out),
        _ => Err("ni tar.gz ni zip (une page d'erreur du serveur ?)".into()),
    }
}

struct Out {
    root: PathBuf,
    bounds: Bounds,
    entries: usize,
    bytes: u64,
}

impl Out {
    /// Count an entry against the bound.
    fn entry(&mut self) -> Result<(), String> {
        self.entries += 1;
        if self.entries > self.bounds.entries {
            return Err(format!(
                "plus de {} entrées (limite de banc)",
                self.bounds.entries
            ));
        }
        Ok(())
    }

    /// The destination of an archive path: only plain names, inside the root.
    fn dest(&self, name: &Path) -> Result<PathBuf, String> {
        let mut dest = self.root.clone();
        let mut depth = 0;
        for c in name.components() {
            match c {
                Component::Normal(part) => {
                    dest.push(part);
                    depth += 1;
                }
                Component::CurDir => {}
                _ => {
                    return Err(format!(
                        "entrée « {} » hors du dossier du kit",
                        name.display()
                    ));
                }
            }
        }
        if depth == 0 {
            return Err(format!("entrée sans nom « {} »", name.display()));
        }
        Ok(dest)
    }

    fn dir(&mut self, name: &Path) -> Result<(), String> {
        let dest = self.dest(name)?;
        std::fs::create_dir_all(&dest).map_err(|e| format!("{} : {e}", name.display()))
    }

    /// Copy one file, counting its bytes against the bound as they are written (the sizes an
    /// archive announces are not trusted).
    fn file(&mut self, name: &Path, body: &mut dyn Read) -> Result<(), String> {
        let dest = self.dest(name)?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{} : {e}", name.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    format!("entrée « {} » en double", name.display())
                }
                _ => format!("{} : {e}", name.display()),
            })?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(format!(
                        "archive tronquée ou corrompue dans « {} » ({e})",
                        name.display()
                    ));
                }
            };
            self.bytes += n as u64;
            if self.bytes > self.bounds.unpacked_bytes {
                return Err(format!(
                    "contenu de plus de {} octets une fois décompressé (limite de banc)",
                    self.bounds.unpacked_bytes
                ));
            }
            f.write_all(&buf[..n])
                .map_err(|e| format!("écriture de {} : {e}", dest.display()))?;
        }
        f.flush().map_err(|e| e.to_string())
    }
}

fn tar_gz(archive: &Path, out: &mut Out) -> Result<(), String> {
    let file = File::open(archive).map_err(|e| e.to_string())?;
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    let bad = |e: std::io::Error| format!("archive tar.gz tronquée ou corrompue ({e})");
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        // pax headers (a GitHub archive opens with one naming the commit): metadata, not files.
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        out.entry()?;
        let name = entry.path().map_err(bad)?.into_owned();
        match kind {
            tar::EntryType::Directory => out.dir(&name)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => out.file(&name, &mut entry)?,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(format!(
                    "entrée « {} » : les liens sont refusés",
                    name.display()
                ));
            }
            other => {
                return Err(format!(
                    "entrée « {} » d'un type refusé ({other:?})",
                    name.display()
                ));
            }
        }
    }
    // Read the gzip stream to its end: its length and CRC check that nothing was cut.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(bad)?;
    Ok(())
}

fn zip(archive: &Path, out: &mut Out) -> Result<(), String> {
    let file = File::open(archive).map_err(|e| e.to_string())?;
    let bad = |e: zip::result::ZipError| format!("archive zip tronquée ou corrompue ({e})");
    let mut z = zip::ZipArchive::new(BufReader::new(file)).map_err(bad)?;
    for i in 0..z.len() {
        let mut f = z.by_index(i).map_err(bad)?;
        out.entry()?;
        let raw = f.name().map_err(bad)?.into_owned();
        if f.is_symlink() {
            return Err(format!("entrée « {raw} » : les liens sont refusés"));
        }
        // enclosed_name() is None for absolute paths and `..` that climbs out.
        let name = f
            .enclosed_name()
            .ok_or_else(|| format!("entrée « {raw} » hors du dossier du kit"))?;
        if f.is_dir() {
            out.dir(&name)?;
        } else {
            // The zip reader checks each file's CRC at its end.
            out.file(&name, &mut f)?;
        }
    }
    Ok(())
}
