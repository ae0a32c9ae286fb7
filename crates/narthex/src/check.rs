//! `narthex check config` and `check rules`: promtool's checks, with their
//! output and exit codes (0 all good, 1 a file failed).

use std::path::Path;

use config::{Config, Mode};

use crate::flags::CheckConfigArgs;

pub const SUCCESS: i32 = 0;
pub const FAILURE: i32 = 1;
/// A lint problem with `--lint-fatal`.
pub const LINT_FAILURE: i32 = 3;

/// promtool's rule lints.
#[derive(Debug, Clone, Copy)]
pub struct Lint {
    pub duplicates: bool,
    pub fatal: bool,
}

impl Default for Lint {
    fn default() -> Self {
        Lint { duplicates: true, fatal: false }
    }
}

/// Checks each file, printing one result line per file, then the rule
/// files each names.
pub fn check_config(args: &CheckConfigArgs) -> i32 {
    let mode = if args.agent { Mode::Agent } else { Mode::Server };
    let mut code = SUCCESS;
    for file in &args.files {
        println!("Checking {}", file.display());
        match check_one(file, mode, args.syntax_only) {
            Ok((rule_files, scheme)) => {
                if !args.syntax_only {
                    println!("  SUCCESS: {} rule files found", rule_files.len());
                }
                println!(" SUCCESS: {} is valid prometheus config file syntax", file.display());
                println!();
                if check_rules(&rule_files, scheme, Lint::default()) != SUCCESS {
                    code = FAILURE;
                }
            }
            Err(e) => {
                eprintln!("  FAILED: {}", e.replace('\n', "\n    "));
                println!();
                code = FAILURE;
            }
        }
    }
    code
}

/// Checks rule files as `promtool check rules` does: each file's rule
/// count, or every problem found in it. Duplicate rules are a lint
/// problem, reported but fatal only with `--lint-fatal`.
pub fn check_rules(files: &[std::path::PathBuf], scheme: model::ValidationScheme, lint: Lint) -> i32 {
    let mut code = SUCCESS;
    for file in files {
        println!("Checking {}", file.display());
        match rules::rulefmt::parse_file(file, scheme) {
            Ok(groups) => {
                let dups = if lint.duplicates { groups.duplicates() } else { Vec::new() };
                if dups.is_empty() {
                    let n: usize = groups.groups.iter().map(|g| g.rules.len()).sum();
                    println!("  SUCCESS: {n} rules found");
                } else {
                    let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
                    for (metric, labels) in dups {
                        msg.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
                        for (k, v) in labels {
                            msg.push_str(&format!("\t{k}: {v}\n"));
                        }
                    }
                    msg.push_str("Might cause inconsistency while recording expressions");
                    eprintln!("  FAILED:\n{msg}");
                    if lint.fatal && code == SUCCESS {
                        code = LINT_FAILURE;
                    }
                }
            }
            Err(errs) => {
                eprintln!("  FAILED:");
                for e in &errs.0 {
                    eprintln!("{e}");
                }
                code = FAILURE;
            }
        }
        println!();
    }
    code
}

/// Loads the file as the server would and, unless only syntax is asked
/// for, checks that the files it names exist. Returns the rule files to
/// check and the names they must follow.
fn check_one(file: &Path, mode: Mode, syntax_only: bool) -> Result<(Vec<std::path::PathBuf>, model::ValidationScheme), String> {
    let cfg = Config::load_file(file, mode).map_err(|e| e.to_string())?;
    let scheme = cfg.global.validation_scheme();
    let mut rule_files = Vec::new();
    if syntax_only {
        return Ok((rule_files, scheme));
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
        rule_files.extend(found);
    }
    Ok((rule_files, scheme))
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

    #[test]
    fn rule_files_are_checked_with_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, "rule_files: ['*.rules.yml']\n").unwrap();
        std::fs::write(dir.path().join("a.rules.yml"), "groups: [{name: g, rules: [{record: a, expr: up}]}]\n").unwrap();
        assert_eq!(check_config(&args(vec![cfg.clone()], false)), SUCCESS);
        std::fs::write(dir.path().join("b.rules.yml"), "groups: [{name: g, rules: [{record: b, expr: 'up{'}]}]\n").unwrap();
        assert_eq!(check_config(&args(vec![cfg], false)), FAILURE);
        let a = dir.path().join("a.rules.yml");
        assert_eq!(check_rules(std::slice::from_ref(&a), model::ValidationScheme::Utf8, Lint::default()), SUCCESS);
        std::fs::write(&a, "groups: [{name: g, rules: [{record: a, expr: up}, {record: a, expr: down}]}]\n").unwrap();
        assert_eq!(check_rules(std::slice::from_ref(&a), model::ValidationScheme::Utf8, Lint::default()), SUCCESS);
        assert_eq!(check_rules(&[a], model::ValidationScheme::Utf8, Lint { duplicates: true, fatal: true }), LINT_FAILURE);
    }
}
