//! `banc serve` under load, on loopback, bounded in time and count, with figures: the release
//! binary with the kit, C clients (default 50) each uploading the kit's 135 KB CR-BIO
//! (`BIO-CR-BIO_2024.01_TSH_1.xml`) on its keep-alive connection for S seconds (default 60) while
//! I connections (default 1,000) stay open doing nothing and a probe asks for `/` every 250 ms;
//! then the server is SIGKILLed with uploads in flight, restarted on its data folder, and every
//! `201` is read back at its `Location` (page `200`, `report.json` byte for byte the `201`'s).
//! Prints throughput, p50/p99 latency, errors, the server's peak memory (VmHWM) and what the idle
//! connections cost; exits 1 if an invariant broke (an error, a result lost, an idle connection
//! dropped before the server's 30 s header timeout, idle memory over its bound).
//!
//! `cargo build --release && cargo run --release --example serve_load -- [--kit DIR] [--secs 60]
//! [--clients 50] [--idle 1000] [-j N] [--banc PATH]` (the kit defaults to `../shared/ans-kit`;
//! without one, the fixture `tsh.xml` is uploaded and validated without a kit).

#[path = "../tests/common/serve_load.rs"]
mod load;

use load::{Conn, Server, Shared};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What an idle connection may cost the server, at most (hyper's connection state and buffers
/// are a few KiB; a task; the socket's kernel memory is not in the process's RSS).
const IDLE_BOUND_KB: u64 = 32;
const MIB: f64 = 1024.0;

struct Args {
    kit: Option<PathBuf>,
    secs: u64,
    clients: usize,
    idle: usize,
    jobs: Option<usize>,
    banc: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        kit: None,
        secs: 60,
        clients: 50,
        idle: 1000,
        jobs: None,
        banc: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} : valeur manquante"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v} : {e}"));
        match flag.as_str() {
            "--kit" => a.kit = Some(value()?.into()),
            "--secs" => a.secs = number(value()?)?.clamp(1, 3600),
            "--clients" => a.clients = number(value()?)?.clamp(1, 1000) as usize,
            "--idle" => a.idle = number(value()?)?.min(5000) as usize,
            "-j" | "--jobs" => a.jobs = Some(number(value()?)?.clamp(1, 1024) as usize),
            "--banc" => a.banc = Some(value()?.into()),
            _ => return Err(format!("option inconnue : {flag}")),
        }
    }
    Ok(a)
}

/// The release binary beside our target folder, built after the last change to the sources
/// (building it from here, under `cargo run`'s environment, would compile the library again).
fn banc_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/examples/serve_load → target/release/banc
    let target = exe.ancestors().nth(3).ok_or("dossier target introuvable")?;
    let bin = target.join("release/banc");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|_| format!("{} absent : cargo build --release d'abord", bin.display()))?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newer = walkdir::WalkDir::new(root.join("src"))
        .into_iter()
        .filter_map(Result::ok)
        .chain(
            walkdir::WalkDir::new(root.join("Cargo.lock"))
                .into_iter()
                .filter_map(Result::ok),
        )
        .find(|e| {
            e.metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| t > built)
        });
    match newer {
        Some(e) => Err(format!(
            "{} est plus récent que {} : cargo build --release d'abord",
            e.path().display(),
            bin.display()
        )),
        None => Ok(bin),
    }
}

fn banc(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("BANC_KIT")
        .env_remove("BANC_CIRCUIT_BIO")
        .env_remove("BANC_TERMINOLOGY");
    c
}

fn mib(kb: u64) -> f64 {
    kb as f64 / MIB
}

/// Keeps `n` idle connections open until `stop`: the server closes an idle connection at its
/// 30 s header timeout, and it is opened again at once.
struct Idle {
    /// Held a second after they were opened.
    held_at_start: usize,
    /// Opened again after the server closed them.
    reopened: usize,
    /// Closed by the server before 25 s.
    early_closes: usize,
}

fn hold_idle(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>, out: Arc<Mutex<Idle>>) {
    let mut conns: Vec<(TcpStream, Instant)> = Vec::with_capacity(n);
    let open = |conns: &mut Vec<(TcpStream, Instant)>| -> usize {
        let mut opened = 0;
        while conns.len() < n {
            match load::open_idle(addr, 1) {
                Ok(mut c) => {
                    conns.push((c.remove(0), Instant::now()));
                    opened += 1;
                }
                Err(_) => break,
            }
        }
        opened
    };
    open(&mut conns);
    std::thread::sleep(Duration::from_secs(1));
    {
        let mut o = out.lock().unwrap();
        o.held_at_start = conns.iter().filter(|(c, _)| !load::closed(c)).count();
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(500));
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut early = 0;
        conns.retain(|(c, since)| {
            let gone = load::closed(c);
            if gone && since.elapsed() < Duration::from_secs(25) {
                early += 1;
            }
            !gone
        });
        let reopened = open(&mut conns);
        let mut o = out.lock().unwrap();
        o.early_closes += early;
        o.reopened += reopened;
    }
}

/// GET / on a fresh connection every 250 ms until `stop`: (latencies, failures).
fn probe(addr: SocketAddr, stop: Arc<AtomicBool>) -> (Vec<Duration>, Vec<String>) {
    let (mut times, mut failures) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::SeqCst) {
        let t = Instant::now();
        match Conn::open(addr).and_then(|mut c| c.send("GET", "/", b"")) {
            Ok(r) if r.status == 200 => times.push(t.elapsed()),
            Ok(r) => failures.push(format!("GET / {}", r.status)),
            Err(e) => failures.push(format!("GET / : {e}")),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    (times, failures)
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let kit = args.kit.clone().or_else(|| {
        let k = root.join("../shared/ans-kit");
        k.join("infrastructure/cda/CDA_extended.xsd")
            .is_file()
            .then_some(k)
    });
    let (doc_path, note) = match &kit {
        Some(k) => (
            k.join("ExemplesCDA/BIO-CR-BIO_2024.01_TSH_1.xml"),
            format!("avec le kit {}", k.display()),
        ),
        None => (
            root.join("fixtures/cr-bio/valid/tsh.xml"),
            "SANS kit (../shared/ans-kit absent) : la fixture tsh.xml".to_string(),
        ),
    };
    let doc =
        Arc::new(std::fs::read(&doc_path).map_err(|e| format!("{} : {e}", doc_path.display()))?);
    let name = "BIO-CR-BIO_2024.01_TSH_1.xml";
    let bin = banc_binary(args.banc.clone())?;
    load::raise_nofile((args.idle + args.clients) as u64 * 2 + 256)?;
    let data = load::scratch("serve-load");
    let mut server_args: Vec<String> = vec![
        "--uploads-per-minute".into(),
        "0".into(),
        "--max-connections".into(),
        (args.idle + args.clients + 64).to_string(),
        "--max-queue".into(),
        args.clients.max(64).to_string(),
    ];
    if let Some(k) = &kit {
        server_args.extend(["--kit".into(), k.display().to_string()]);
    }
    if let Some(j) = args.jobs {
        server_args.extend(["-j".into(), j.to_string()]);
    }
    println!(
        "banc serve sous charge : {} client(s), {} connexion(s) inactive(s), {} s ; {} ({} octets), {note}",
        args.clients,
        args.idle,
        args.secs,
        doc_path.display(),
        doc.len()
    );
    println!("serveur : {} {}", bin.display(), server_args.join(" "));
    let mut server = Server::start(banc(&bin), &data, &server_args)?;
    println!(
        "démarré en {:.1} s, RSS {:.0} Mio",
        server.started_in.as_secs_f64(),
        mib(server.status_kb("VmRSS").unwrap_or(0))
    );

    // Warm-up: the validation paths run once per slot before the idle connections are counted.
    let mut warm = Conn::open(server.addr).map_err(|e| e.to_string())?;
    for _ in 0..4 {
        let r = warm
            .send("POST", &format!("/api/validations?name={name}"), &doc)
            .map_err(|e| e.to_string())?;
        if r.status != 201 {
            return Err(format!(
                "échauffement : {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    drop(warm);
    std::thread::sleep(Duration::from_millis(500));
    let rss_warm = server.status_kb("VmRSS").unwrap_or(0);

    let stop_idle = Arc::new(AtomicBool::new(false));
    let idle_out = Arc::new(Mutex::new(Idle {
        held_at_start: 0,
        reopened: 0,
        early_closes: 0,
    }));
    let holder = {
        let (addr, n, stop, out) = (server.addr, args.idle, stop_idle.clone(), idle_out.clone());
        std::thread::spawn(move || hold_idle(addr, n, stop, out))
    };
    // The holder checks its connections after a second.
    std::thread::sleep(Duration::from_millis(1500));
    let rss_idle = server.status_kb("VmRSS").unwrap_or(0);
    let held_at_start = idle_out.lock().unwrap().held_at_start;

    let shared = Shared::new(server.addr);
    let stop_probe = Arc::new(AtomicBool::new(false));
    let prober = {
        let (addr, stop) = (server.addr, stop_probe.clone());
        std::thread::spawn(move || probe(addr, stop))
    };
    let t0 = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            let (shared, doc) = (shared.clone(), doc.clone());
            std::thread::spawn(move || load::client(shared, doc, name, None))
        })
        .collect();
    let mut rss_samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(args.secs) {
        std::thread::sleep(Duration::from_secs(1));
        rss_samples.push(server.status_kb("VmRSS").unwrap_or(0));
    }

    // SIGKILL with the uploads in flight.
    stop_probe.store(true, Ordering::SeqCst);
    stop_idle.store(true, Ordering::SeqCst);
    let hwm = server.status_kb("VmHWM").unwrap_or(0);
    shared.down();
    shared.finish();
    let window = t0.elapsed();
    server.kill();
    let reports: Vec<load::ClientReport> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or_default())
        .collect();
    let (probe_times, probe_failures) = prober.join().unwrap_or_default();
    let _ = holder.join();
    let idle = idle_out.lock().unwrap();

    let t = Instant::now();
    let server = Server::start(banc(&bin), &data, &server_args)?;
    let restart = t.elapsed();
    let created: Vec<load::Created> = reports.iter().flat_map(|r| r.created.clone()).collect();
    let errors: Vec<&String> = reports.iter().flat_map(|r| &r.errors).collect();
    let cut: usize = reports.iter().map(|r| r.cut).sum();
    let t = Instant::now();
    let lost = load::read_back(server.addr, &created, 4);
    let read_back = t.elapsed();
    let on_disk = std::fs::read_dir(data.join("v")).map_or(0, |d| d.count());
    let disk_kb: u64 = walk_kb(&data.join("v"));
    drop(server);

    let mut lat: Vec<Duration> = created.iter().map(|c| c.latency).collect();
    lat.sort();
    let mut probe_sorted = probe_times.clone();
    probe_sorted.sort();
    let secs = window.as_secs_f64();
    let idle_growth = rss_idle.saturating_sub(rss_warm);
    let idle_bound = IDLE_BOUND_KB * args.idle as u64;
    println!(
        "charge : {} × 201 en {secs:.1} s = {:.1} dépôts/s ; latence p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ; erreurs {}",
        created.len(),
        created.len() as f64 / secs,
        load::quantile_ms(&lat, 0.50),
        load::quantile_ms(&lat, 0.99),
        load::quantile_ms(&lat, 1.0),
        errors.len()
    );
    println!(
        "mémoire du serveur : RSS {:.0} Mio après l'échauffement, {:.0} Mio avec les connexions inactives, \
         {:.0} à {:.0} Mio pendant la charge ; pic (VmHWM) {:.0} Mio",
        mib(rss_warm),
        mib(rss_idle),
        mib(rss_samples.iter().copied().min().unwrap_or(0)),
        mib(rss_samples.iter().copied().max().unwrap_or(0)),
        mib(hwm)
    );
    println!(
        "connexions inactives : {held_at_start}/{} tenues, +{:.1} Mio ({:.1} Kio chacune ; borne {IDLE_BOUND_KB} Kio), \
         {} rouvertes après le délai d'en-têtes de 30 s du serveur, {} fermées avant 25 s",
        args.idle,
        mib(idle_growth),
        idle_growth as f64 / args.idle.max(1) as f64,
        idle.reopened,
        idle.early_closes
    );
    println!(
        "sonde GET / pendant la charge : {} réponses, p50 {:.1} ms, max {:.1} ms, {} échec(s)",
        probe_times.len(),
        load::quantile_ms(&probe_sorted, 0.5),
        load::quantile_ms(&probe_sorted, 1.0),
        probe_failures.len()
    );
    println!(
        "SIGKILL pendant la charge : {cut} requête(s) coupée(s) ; redémarrage en {:.1} s ; \
         {}/{} résultats 201 relus à leur Location en {:.1} s ({} sur disque avec l'échauffement, {:.0} Kio chacun)",
        restart.as_secs_f64(),
        created.len() - lost.len(),
        created.len(),
        read_back.as_secs_f64(),
        on_disk,
        disk_kb as f64 / on_disk.max(1) as f64
    );
    let mut broken = Vec::new();
    if !errors.is_empty() {
        broken.push(format!("erreurs : {:?}", &errors[..errors.len().min(5)]));
    }
    if !lost.is_empty() {
        broken.push(format!("perdus : {:?}", &lost[..lost.len().min(5)]));
    }
    if !probe_failures.is_empty() {
        broken.push(format!(
            "sonde : {:?}",
            &probe_failures[..probe_failures.len().min(5)]
        ));
    }
    if held_at_start < args.idle || idle.early_closes > 0 {
        broken.push("connexions inactives refusées ou fermées trop tôt".into());
    }
    if idle_growth > idle_bound {
        broken.push(format!(
            "connexions inactives : +{idle_growth} Kio > {idle_bound} Kio"
        ));
    }
    if broken.is_empty() {
        println!("invariants tenus");
        Ok(())
    } else {
        Err(broken.join(" ; "))
    }
}

/// Size of the files under `dir`, in KiB.
fn walk_kb(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum::<u64>()
        / 1024
}
