//! `narthex check config`: promtool's config check, with its output and
//! exit codes (0 all good, 1 a file failed).

use std::path::Path;

use config::{Config, Mode};

use crate::flags::CheckConfigArgs;

pub const SUCCESS: i32 = 0;
pub const FAILURE: i32 = 1;

/// Checks each file, printing one result line per file.
pub fn check_config(args: &CheckConfigArgs) -> i32 {
    let mode = if args.agent { Mode::Agent } else { Mode::Server };
    let mut code = SUCCESS;
    for file in &args.files {
        match check_one(file, mode, args.syntax_only) {
            Ok(notes) => {
                println!("  SUCCESS: {} is valid prometheus config file syntax", file.display());
                for n in notes {
                    println!("  {n}");
                }
            }
            Err(e) => {
                eprintln!("  FAILED: {}: {}", file.display(), e.replace('\n', "\n    "));
                code = FAILURE;
            }
        }
    }
    code
}

/// Loads the file as the server would and, unless only syntax is asked
/// for, checks that the files it names exist. Returns notes to print.
fn check_one(file: &Path, mode: Mode, syntax_only: bool) -> Result<Vec<String>, String> {
    let cfg = Config::load_file(file, mode).map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    if syntax_only {
        return Ok(notes);
    }
    for (what, f) in cfg.referenced_files() {
        std::fs::metadata(&f).map_err(|e| format!("error checking file {f:?} of {what}: {e}"))?;
    }
    for pattern in &cfg.rule_files {
        let matches = glob::glob(pattern).map_err(|e| format!("error retrieving rule files for {pattern:?}: {e}"))?;
        let found: Vec<_> = matches.filter_map(Result::ok).collect();
        if found.is_empty() && !pattern.contains('*') {
            return Err(format!("rule file {pattern:?} does not exist"));
        }
        for f in found {
            notes.push(format!("rule file {} exists (its rules are not checked yet)", f.display()));
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(files: Vec<std::path::PathBuf>, syntax_only: bool) -> CheckConfigArgs {
        CheckConfigArgs { syntax_only, agent: false, files }
    }

    #[test]
    fn exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yml");
        std::fs::write(&good, "scrape_configs: [{job_name: a, tls_config: {ca_file: missing.pem}}]\n").unwrap();
        let bad = dir.path().join("bad.yml");
        std::fs::write(&bad, "scrape_configs: [{job_name: ''}]\n").unwrap();
        assert_eq!(check_config(&args(vec![good.clone()], true)), SUCCESS);
        assert_eq!(check_config(&args(vec![good.clone()], false)), FAILURE, "the CA file does not exist");
        assert_eq!(check_config(&args(vec![good, bad], true)), FAILURE);
    }
}
