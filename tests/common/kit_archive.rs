//! Kit archives made at test time from the shared kit, as GitHub serves them (one top folder,
//! a pax global header), and a tiny HTTP server for them (`banc kit fetch` tests).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A temporary folder removed at the end of the test.
pub struct Temp(pub PathBuf);

impl Temp {
    pub fn new(name: &str) -> Temp {
        let p = std::env::temp_dir().join(format!("banc-kits-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Temp(p)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The kit's files but its examples (not needed to judge, and half its size), kit-relative.
pub fn kit_files(kit: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = walkdir::WalkDir::new(kit)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(kit)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, e.path().to_path_buf())
        })
        .filter(|(rel, _)| !rel.starts_with("ExemplesCDA/"))
        .collect();
    out.sort();
    out
}

/// The folders of [`kit_files`], parents first; "" is the top folder itself.
fn dirs(kit: &Path) -> Vec<String> {
    let mut out = std::collections::BTreeSet::from([String::new()]);
    for (rel, _) in kit_files(kit) {
        let mut d = rel.as_str();
        while let Some((parent, _)) = d.rsplit_once('/') {
            out.insert(parent.to_string());
            d = parent;
        }
    }
    out.into_iter().collect()
}

fn gnu_header(name: &[u8], size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

/// A tar.gz as GitHub serves it: `pax_global_header` naming the commit, then `<top>/...`;
/// `extra` raw entries (name, kind, link target) appended after the kit's files.
pub fn tar_gz(kit: &Path, top: &str, extra: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let comment = b"52 comment=7cd489b39368809df9bcf2cfef5e5d6354438a02\n";
    let h = gnu_header(
        b"pax_global_header",
        comment.len() as u64,
        tar::EntryType::XGlobalHeader,
    );
    b.append(&h, &comment[..]).unwrap();
    // Folders have their own entries, as in git's archives.
    for dir in dirs(kit) {
        b.append_dir(format!("{top}/{dir}"), kit).unwrap();
    }
    for (rel, path) in kit_files(kit) {
        b.append_path_with_name(&path, format!("{top}/{rel}"))
            .unwrap();
    }
    for (name, kind, data) in extra {
        let mut h = gnu_header(name, data.len() as u64, *kind);
        if *kind == tar::EntryType::Symlink {
            h.set_size(0);
            h.set_link_name(std::str::from_utf8(data).unwrap()).unwrap();
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        } else {
            b.append(&h, *data).unwrap();
        }
    }
    b.into_inner().unwrap().finish().unwrap()
}

pub fn zip_archive(kit: &Path, top: &str) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for dir in dirs(kit) {
        z.add_directory(format!("{top}/{dir}"), opts).unwrap();
    }
    for (rel, path) in kit_files(kit) {
        z.start_file(format!("{top}/{rel}"), opts).unwrap();
        z.write_all(&std::fs::read(path).unwrap()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// The good archives, built once for the tests of this file.
pub fn archives(kit: &Path) -> &'static (Vec<u8>, Vec<u8>) {
    static A: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    A.get_or_init(|| {
        (
            tar_gz(kit, "TestContenuCDA-3-0-r1", &[]),
            zip_archive(kit, "TestContenuCDA-3-0-r2"),
        )
    })
}

/// A tiny HTTP/1.1 server on 127.0.0.1: `GET /NAME` answers the bytes registered for NAME
/// (404 otherwise), one connection per request.
pub fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let files = files.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let path = line
                    .split(' ')
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let (status, body): (&str, &[u8]) = match files.get(path) {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found"),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body);
            });
        }
    });
    format!("http://{addr}")
}
