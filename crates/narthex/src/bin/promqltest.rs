//! `promqltest PATH...`: runs Prometheus's PromQL test scripts (`.test`
//! files, or directories searched recursively for them) against our engine
//! and a fresh in-memory TSDB head per `clear`, printing one line per file
//! and a command count. Exits 0 only if every command passed.
//!
//! This binary only wires things up: finding files, the engine settings the
//! scripts assume and the storage. Running and judging scripts belongs to
//! `promql::promqltest::run`, which must stay free of `tsdb`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use promql::promqltest::run::{self, TestStorage, Totals};
use storage::StorageError;
use tsdb::head::{Head, HeadMetrics, HeadOptions, HeadStorage};

fn new_storage() -> Result<Box<dyn TestStorage>, StorageError> {
    let head = Head::open(HeadOptions::test_storage(), HeadMetrics::new(None)).map_err(|e| StorageError::Other(format!("opening the head: {e}")))?;
    Ok(Box::new(HeadStorage(head)))
}

/// `.test` files under `path` (itself if it is a file), sorted.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "test") {
            out.push(p);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `-v` lists every failing command, not only each file's first.
    let verbose = args.iter().any(|a| a == "-v");
    args.retain(|a| a != "-v");
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: promqltest [-v] PATH...   (PromQL .test files, or directories holding them)");
        return ExitCode::FAILURE;
    }
    let engine = run::script_engine();
    let mut totals = Totals::default();
    for arg in &args {
        let mut files = Vec::new();
        if let Err(e) = collect(Path::new(arg), &mut files) {
            println!("FAIL {arg}: {e}");
            totals.failed += 1;
            continue;
        }
        for file in files {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    println!("FAIL {name}: {e}");
                    totals.failed += 1;
                    continue;
                }
            };
            let outcome = run::run_source(&text, &engine, &mut new_storage);
            println!("{}", outcome.summary_line(&name));
            if verbose {
                for c in &outcome.commands {
                    if let run::Status::Fail(m) = &c.status {
                        println!("  line {}: {m}", c.line);
                    }
                }
            }
            totals.add(&outcome);
        }
    }
    println!("{totals}");
    if totals.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
