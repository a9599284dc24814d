//! The `banc` binary: the command line (`src/cli/`) over the library. Nothing else lives here.

mod cli;

fn main() -> std::process::ExitCode {
    // glibc grows a thread's heap by 128 KiB steps, each an mprotect and its page faults: a
    // warm one-document process spent a fifth of its time there. Growing and trimming by
    // tens of MiB takes no more resident memory (untouched pages are not resident).
    // SAFETY: glibc tunables, set before any thread is started.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
    cli::main()
}
