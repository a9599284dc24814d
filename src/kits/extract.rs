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
        // enclosed_name() catches what would climb out on any platform (`..\\x` on Windows)
        // but makes an absolute name relative: that one is refused by `dest` on the raw name.
        if f.enclosed_name().is_none() {
            return Err(format!("entrée « {raw} » hors du dossier du kit"));
        }
        let name = PathBuf::from(&raw);
        if f.is_dir() {
            out.dir(&name)?;
        } else {
            // The zip reader checks each file's CRC at its end.
            out.file(&name, &mut f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn unpack(bytes: &[u8], bounds: Bounds) -> (Result<(), String>, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "banc-extract-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), bytes).unwrap();
        (extract(&dir.join("a"), &dir.join("t"), bounds), dir)
    }

    #[test]
    fn bounds_stop_a_bomb_and_an_entry_flood() {
        let bounds = Bounds {
            archive_bytes: 1 << 20,
            unpacked_bytes: 1 << 20,
            entries: 10,
        };
        // 8 MiB of zeros compress to a few KiB.
        let bomb = tar_gz(&[("k/zeros", vec![0u8; 8 << 20])]);
        assert!(bomb.len() < 64 << 10);
        let (r, dir) = unpack(&bomb, bounds);
        assert!(r.unwrap_err().contains("octets une fois décompressé"));
        std::fs::remove_dir_all(dir).unwrap();
        let many: Vec<(String, Vec<u8>)> =
            (0..11).map(|i| (format!("k/{i}"), b"x".to_vec())).collect();
        let many: Vec<(&str, Vec<u8>)> =
            many.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
        let (r, dir) = unpack(&tar_gz(&many), bounds);
        assert!(r.unwrap_err().contains("plus de 10 entrées"));
        std::fs::remove_dir_all(dir).unwrap();
        let (r, dir) = unpack(&tar_gz(&many[..10]), bounds);
        r.unwrap();
        assert_eq!(std::fs::read(dir.join("t/k/9")).unwrap(), b"x");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn zip_traversal_and_absolute_names_are_refused() {
        for name in ["../evil", "/etc/evil", "k/../../evil"] {
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"x").unwrap();
            let bytes = z.finish().unwrap().into_inner();
            let (r, dir) = unpack(&bytes, Bounds::default());
            let e = r.expect_err(name);
            assert!(e.contains("hors du dossier du kit"), "{name}: {e}");
            assert!(!dir.join("evil").exists());
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
