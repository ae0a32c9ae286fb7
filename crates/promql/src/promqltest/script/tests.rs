#![allow(clippy::unwrap_used)]

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn only_eval(text: &str) -> Eval {
    let script = parse(text).unwrap();
    assert_eq!(script.commands.len(), 1, "{script:?}");
    match script.commands.into_iter().next().unwrap().command {
        Command::Eval(e) => e,
        other => panic!("not an eval: {other:?}"),
    }
}

fn err_line(text: &str) -> usize {
    match parse(text) {
        Err(e) => e.line,
        Ok(s) => panic!("parsed: {s:?}"),
    }
}

fn floats(points: &[Point]) -> Vec<Option<f64>> {
    points.iter().map(Point::float_value).collect()
}

#[test]
fn readme_worked_example() {
    let text = r#"load 5m
    http_requests{job="api", instance="0"} 0+10x10
    http_requests{job="api", instance="1"} 0+20x10

# Instant: at 50m the samples are 100 and 200.
eval instant at 50m sum by (job) (http_requests)
    {job="api"} 300

# Range: 0m, 5m, 10m.
eval range from 0 to 10m step 5m http_requests{instance="0"} * 2
    {job="api", instance="0"} 0 20 40

eval instant at 50m sum(http_requests) / 0
    {} +Inf

eval instant at 50m scalar(sum(http_requests))
    300

eval instant at 0m label_replace(http_requests, "x", "$1", "job", "(.*")
    expect fail
"#;
    let s = parse(text).unwrap();
    let lines: Vec<usize> = s.commands.iter().map(|c| c.line).collect();
    assert_eq!(lines, vec![1, 6, 10, 13, 16, 19]);

    let Command::Load(load) = &s.commands[0].command else { panic!() };
    assert_eq!(load.interval_ms, 300_000);
    assert!(!load.with_nhcb);
    assert_eq!(load.series.len(), 2);
    assert_eq!(load.series[1].line, 3);
    assert_eq!(load.series[1].labels, labels(&[("__name__", "http_requests"), ("job", "api"), ("instance", "1")]));
    let samples: Vec<(i64, Option<f64>)> = load.series[1].samples(load.interval_ms).map(|(t, p)| (t, p.float_value())).collect();
    assert_eq!(samples.len(), 11);
    assert_eq!(samples[0], (0, Some(0.0)));
    assert_eq!(samples[10], (3_000_000, Some(200.0)));

    let Command::Eval(e) = &s.commands[1].command else { panic!() };
    assert_eq!(e.kind, EvalKind::Instant { at_ms: 3_000_000 });
    assert_eq!(e.expr, "sum by (job) (http_requests)");
    assert_eq!(e.expect, Expectations::default());
    let ExpectedResult::Series(series) = &e.result else { panic!("{:?}", e.result) };
    assert_eq!(series[0].labels, labels(&[("job", "api")]));
    assert_eq!(floats(&series[0].values), vec![Some(300.0)]);

    let Command::Eval(e) = &s.commands[2].command else { panic!() };
    assert_eq!(e.kind, EvalKind::Range { start_ms: 0, end_ms: 600_000, step_ms: 300_000 });
    assert_eq!(e.expr, r#"http_requests{instance="0"} * 2"#);
    let ExpectedResult::Series(series) = &e.result else { panic!() };
    assert_eq!(floats(&series[0].values), vec![Some(0.0), Some(20.0), Some(40.0)]);

    let Command::Eval(e) = &s.commands[3].command else { panic!() };
    let ExpectedResult::Series(series) = &e.result else { panic!() };
    assert_eq!(series[0].labels, Labels::empty());
    assert_eq!(floats(&series[0].values), vec![Some(f64::INFINITY)]);

    let Command::Eval(e) = &s.commands[4].command else { panic!() };
    assert_eq!(e.result, ExpectedResult::Scalar(300.0));

    let Command::Eval(e) = &s.commands[5].command else { panic!() };
    assert_eq!(e.expect.fail, Some(MessageMatch::Any));
    assert_eq!(e.result, ExpectedResult::Empty);
}

#[test]
fn comments_and_blank_lines_end_blocks() {
    let text = "load 1m\n  a 1\n# a comment\n  \n\tclear\n\nEVAL instant at 0 a\n  # ends the block\nclear";
    let s = parse(text).unwrap();
    let kinds: Vec<(usize, &str)> = s
        .commands
        .iter()
        .map(|c| {
            (
                c.line,
                match c.command {
                    Command::Clear => "clear",
                    Command::Load(_) => "load",
                    Command::Eval(_) => "eval",
                },
            )
        })
        .collect();
    assert_eq!(kinds, vec![(1, "load"), (5, "clear"), (7, "eval"), (9, "clear")]);
    let Command::Eval(e) = &s.commands[2].command else { panic!() };
    assert_eq!(e.result, ExpectedResult::Empty);
    // A `#` later in a line is not a comment.
    assert_eq!(only_eval("eval instant at 0 a # b").expr, "a # b");
}

#[test]
fn unknown_commands_fail_the_file() {
    assert_eq!(err_line("clear\n\nfoo bar"), 3);
    assert_eq!(err_line("loadx 1m\n  a 1"), 1);
    assert_eq!(err_line("evalx instant at 0 a"), 1);
    assert_eq!(err_line("eval_ordered range from 0 to 1m step 1m a"), 1);
    assert_eq!(err_line("load 1m\n a 1\n eval instant at 0 a"), 3);
    assert_eq!(err_line("load\n a 1"), 1);
    assert_eq!(err_line("load 1.5m\n a 1"), 1);
    assert_eq!(err_line("clear all"), 1);
}

#[test]
fn load_with_nhcb_and_missing_values() {
    let s = parse("load_with_nhcb 10s53ms\n  foo_bucket{le=\"0.1\"} _ 1 _x2 stale 3\n").unwrap();
    let Command::Load(load) = &s.commands[0].command else { panic!() };
    assert!(load.with_nhcb);
    assert_eq!(load.interval_ms, 10_053);
    let series = &load.series[0];
    assert_eq!(series.values.len(), 6);
    let samples: Vec<(i64, bool)> = series.samples(load.interval_ms).map(|(t, p)| (t, matches!(p, Point::Stale))).collect();
    assert_eq!(samples, vec![(10_053, false), (40_212, true), (50_265, false)]);
    assert_eq!(series.values[4].float_value().map(f64::to_bits), Some(model::value::STALE_NAN_BITS));
}

#[test]
fn later_definition_wins() {
    let s = parse("load 1m\n  a{x=\"1\"} 1 2\n  b 5\n  a{x=\"1\"} 7\n").unwrap();
    let Command::Load(load) = &s.commands[0].command else { panic!() };
    assert_eq!(load.series.len(), 2);
    assert_eq!(load.series[0].line, 4);
    assert_eq!(floats(&load.series[0].values), vec![Some(7.0)]);
}

#[test]
fn start_timestamp_lines() {
    let text = "load 1m\n  cumulative{type=\"x\"}@st _ _ -30s-1mx2 -1m\n  cumulative{type=\"x\"} _ _ 0+60x3\n  other 1\n";
    let s = parse(text).unwrap();
    let Command::Load(load) = &s.commands[0].command else { panic!() };
    assert_eq!(load.series.len(), 2);
    let st = load.series[0].start_offsets.as_ref().unwrap();
    assert_eq!(st, &vec![None, None, Some(-30_000), Some(-90_000), Some(-150_000), Some(-60_000)]);
    assert_eq!(load.series[0].line, 3);
    assert_eq!(load.series[1].start_offsets, None);

    // Wrong series, wrong length, nothing after, two in a row.
    assert_eq!(err_line("load 1m\n  a@st 0\n  b 1"), 3);
    assert_eq!(err_line("load 1m\n  a@st 0 0\n  a 1"), 3);
    assert_eq!(err_line("load 1m\n  a 1\n  a@st 0\n"), 3);
    assert_eq!(err_line("load 1m\n  a@st 0\n  a@st 0\n  a 1"), 3);
    assert_eq!(err_line("load 1m\n  a@stx 0\n  a 1"), 2);
}

#[test]
fn instant_and_range_headers() {
    assert_eq!(only_eval("eval instant at 10s53ms up").kind, EvalKind::Instant { at_ms: 10_053 });
    assert_eq!(only_eval("eval instant at 0 up").kind, EvalKind::Instant { at_ms: 0 });
    let e = only_eval("eval range from 1m to 1h30m step 30s  rate(x[5m])");
    assert_eq!(e.kind, EvalKind::Range { start_ms: 60_000, end_ms: 5_400_000, step_ms: 30_000 });
    assert_eq!(e.expr, "rate(x[5m])");
    // A query with `step()` in it is no problem.
    assert_eq!(only_eval("eval range from 0 to 1m step 1m step() + 1").expr, "step() + 1");
    for bad in [
        "eval instant 5m up",
        "eval instant at up",
        "eval instant at 5m",
        "eval instant at -5m up",
        "eval instant at 5 up",
        "eval sometimes at 5m up",
        "eval range from 5m to 1m step 1m up",
        "eval range from 0 to 1m up",
        "eval range from 0 to 1m step 1m",
        "eval range 0 to 1m step 1m up",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn legacy_spellings() {
    assert_eq!(only_eval("eval_fail instant at 0 a").expect.fail, Some(MessageMatch::Any));
    assert_eq!(only_eval("eval_warn instant at 0 a").expect.warnings, AnnotationExpectation::Required(vec![MessageMatch::Any]));
    assert_eq!(only_eval("eval_info range from 0 to 1m step 1m a").expect.infos, AnnotationExpectation::Required(vec![MessageMatch::Any]));
    let e = only_eval("eval_ordered instant at 0 a\n  a{x=\"1\"} 1\n  a{x=\"2\"} 2");
    assert!(e.expect.ordered);
    assert!(matches!(&e.result, ExpectedResult::Series(s) if s.len() == 2));

    let e = only_eval("eval_fail instant at 0 a\n  expected_fail_message vector cannot contain metrics");
    assert_eq!(e.expect.fail, Some(MessageMatch::Exact("vector cannot contain metrics".into())));
    let e = only_eval("eval_fail instant at 0 a\n  expected_fail_regexp vector .*");
    assert_eq!(e.expect.fail, Some(MessageMatch::Regex("vector .*".into())));
    // They end the block: the next line is read as a command.
    assert_eq!(err_line("eval_fail instant at 0 a\n  expected_fail_message x\n  {} 1"), 3);
    assert_eq!(err_line("eval instant at 0 a\n  expected_fail_message x"), 2);
}

#[test]
fn expect_lines() {
    let e = only_eval(
        "eval instant at 1m foo\n  expect fail msg:vector cannot contain metrics with the same labelset\n  expect warn\n  expect warn regex: (1:5)$\n  expect no_info\n  expect ordered\n",
    );
    assert_eq!(e.expect.fail, Some(MessageMatch::Exact("vector cannot contain metrics with the same labelset".into())));
    assert_eq!(e.expect.warnings, AnnotationExpectation::Required(vec![MessageMatch::Any, MessageMatch::Regex("(1:5)$".into())]));
    assert_eq!(e.expect.infos, AnnotationExpectation::Forbidden);
    assert!(e.expect.ordered);

    let e = only_eval("eval instant at 1m foo\n  expect info msg:   PromQL info: x (1:1)  \n  expect no_warn");
    assert_eq!(e.expect.infos, AnnotationExpectation::Required(vec![MessageMatch::Exact("PromQL info: x (1:1)".into())]));
    assert_eq!(e.expect.warnings, AnnotationExpectation::Forbidden);

    // An explicit `expect fail` refines `eval_fail`.
    let e = only_eval("eval_fail instant at 0 a\n  expect fail regex: bad.*");
    assert_eq!(e.expect.fail, Some(MessageMatch::Regex("bad.*".into())));

    for (bad, line) in [
        ("eval instant at 0 a\n  expect fail\n  expect fail msg: x", 3),
        ("eval instant at 0 a\n  expect warn\n  expect no_warn", 3),
        ("eval instant at 0 a\n  expect no_info\n  expect info", 3),
        ("eval_warn instant at 0 a\n  expect no_warn", 2),
        ("eval instant at 0 a\n  expect sometimes", 2),
        ("eval instant at 0 a\n  expect fail msg:", 2),
        ("eval instant at 0 a\n  expect fail message: x", 2),
        ("eval instant at 0 a\n  expect ordered msg: x", 2),
        ("eval instant at 0 a\n  expect no_warn regex: x", 2),
        ("eval range from 0 to 1m step 1m a\n  expect string \"x\"", 2),
        ("eval range from 0 to 1m step 1m a\n  expect range vector from 0 to 1m step 1m", 2),
    ] {
        assert_eq!(err_line(bad), line, "{bad:?}");
    }
}

#[test]
fn expect_string() {
    assert_eq!(only_eval("eval instant at 50m \" Foo \"\n    expect string \" Foo \"").result, ExpectedResult::String(" Foo ".into()));
    assert_eq!(only_eval("eval instant at 50m (\"Foo\")\n\texpect string `Foo`").result, ExpectedResult::String("Foo".into()));
    assert_eq!(only_eval("eval instant at 50m \"\"\n   \texpect string \"\"").result, ExpectedResult::String(String::new()));
    assert_eq!(only_eval("eval instant at 0 \"a\\tb\"\n expect string \"a\\tb\\u00e9\"").result, ExpectedResult::String("a\tbé".into()));
    assert_eq!(err_line("eval instant at 0 \"a\"\n expect string 'a'"), 2);
    assert_eq!(err_line("eval instant at 0 \"a\"\n expect string \"a\" b"), 2);
    assert_eq!(err_line("eval instant at 0 \"a\"\n expect string \"a\"\n {} 1"), 1);
}

#[test]
fn expect_range_vector() {
    let e = only_eval("eval instant at 10m metric[1m]\n  expect range vector from 0 to 2m step 1m\n  metric 1 2 3\n  {a=\"b\"} _ 2");
    assert_eq!(e.expect.range_vector, Some(RangeWindow { start_ms: 0, end_ms: 120_000, step_ms: 60_000 }));
    let ExpectedResult::Series(s) = &e.result else { panic!() };
    assert_eq!(floats(&s[0].values), vec![Some(1.0), Some(2.0), Some(3.0)]);
    assert_eq!(floats(&s[1].values), vec![None, Some(2.0)]);
    // Without it, an instant eval takes one value per series.
    assert_eq!(err_line("eval instant at 0 a\n  a 1\n  b 1 2"), 3);
    assert_eq!(err_line("eval instant at 0 a\n  a 1x1"), 2);
    assert_eq!(err_line("eval instant at 0 a\n  expect range vector from 2m to 1m step 1m"), 2);
}

#[test]
fn scalar_results_end_the_block() {
    for (line, want) in [("3", 3.0), ("-0.5", -0.5), ("+Inf", f64::INFINITY), ("1e3", 1000.0), ("0x10", 16.0), (".2", 0.2)] {
        assert_eq!(only_eval(&format!("eval instant at 0 x\n  {line}")).result, ExpectedResult::Scalar(want), "{line}");
    }
    assert!(matches!(only_eval("eval instant at 0 x\n  NaN").result, ExpectedResult::Scalar(v) if v.is_nan()));
    // The line after a scalar starts a new command.
    assert_eq!(err_line("eval instant at 0 x\n  1\n  {} 1"), 3);
    let s = parse("eval instant at 0 x\n  1\nclear").unwrap();
    assert_eq!(s.commands.len(), 2);
    // Series before a scalar make no sense.
    assert_eq!(err_line("eval instant at 0 x\n  {} 1\n  1"), 1);
}

#[test]
fn expected_series_forms() {
    let e = only_eval(
        "eval range from 0 to 4m step 1m x\n  {__name__=\"metric\"} 1 _ stale 2\n  metric{a=\"\\\"\"} {{schema:0 sum:1 count:1}}x1\n  {\"my.metric\", \"a.b\"=\"c\"} 1+1x4\n  {} 1",
    );
    let ExpectedResult::Series(s) = &e.result else { panic!() };
    assert_eq!(s.len(), 4);
    assert_eq!(s[0].labels, labels(&[("__name__", "metric")]));
    assert!(matches!(s[0].values[..], [Point::Float(1.0), Point::Missing, Point::Stale, Point::Float(2.0)]));
    assert_eq!(s[1].labels, labels(&[("__name__", "metric"), ("a", "\"")]));
    assert!(matches!(&s[1].values[..], [Point::Histogram(a), Point::Histogram(b)] if a == b && a.sum == 1.0));
    assert_eq!(s[2].labels, labels(&[("__name__", "my.metric"), ("a.b", "c")]));
    assert_eq!(s[2].line, 4);
    assert_eq!(floats(&s[2].values), vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)]);
    assert_eq!(s[3].labels, Labels::empty());
    assert_eq!(err_line("eval instant at 0 x\n  {}"), 2);
    assert_eq!(err_line("eval instant at 0 x\n  {a=\"b\" 1"), 2);
}

#[test]
fn error_display_has_line() {
    let e = parse("clear\n\nload 1m\n  a 1+\n").unwrap_err();
    assert_eq!(e.line, 4);
    assert!(e.to_string().starts_with("line 4: "), "{e}");
}

#[test]
fn unsupported_histogram_sequences_keep_their_steps() {
    let text = "load 1m\n  h {{schema:-53 custom_values:[1] buckets:[1]}}+{{schema:-53 custom_values:[2] buckets:[1]}}x1 3\n";
    let s = parse(text).unwrap();
    let Command::Load(load) = &s.commands[0].command else { panic!() };
    let times: Vec<(i64, bool)> = load.series[0].samples(load.interval_ms).map(|(t, p)| (t, matches!(p, Point::Unsupported { .. }))).collect();
    assert_eq!(times, vec![(0, true), (60_000, true), (120_000, false)]);
}
