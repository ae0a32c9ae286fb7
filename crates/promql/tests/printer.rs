//! The printer and the prettifier against what Prometheus writes for the
//! same queries (the behaviour its `printer_test.go` and
//! `prettier_test.go` pin down, plus cases of our own), and a round trip
//! over every query of the upstream test scripts: printed, parsed again
//! and printed, a query reads the same.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use promql::parser::{parse, prettify, prettify_with_width};
use promql::promqltest::script::{self, Command};

fn printed(q: &str) -> String {
    parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).to_string()
}

fn check_printed(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, want) in cases {
        let got = printed(input);
        if got != *want {
            failures.push(format!("{input}\n  want {want}\n  got  {got}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} printed wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn aggregations_print_grouping_before_the_arguments() {
    check_printed(&[
        (r#"sum by() (task:errors:rate10s{job="s"})"#, r#"sum(task:errors:rate10s{job="s"})"#),
        (r#"sum by(code) (task:errors:rate10s{job="s"})"#, r#"sum by (code) (task:errors:rate10s{job="s"})"#),
        (r#"sum without() (task:errors:rate10s{job="s"})"#, r#"sum without () (task:errors:rate10s{job="s"})"#),
        (r#"sum without(instance) (task:errors:rate10s{job="s"})"#, r#"sum without (instance) (task:errors:rate10s{job="s"})"#),
        (r#"sum(task:errors:rate10s{job="s"}) without(job,foo)"#, r#"sum without (job, foo) (task:errors:rate10s{job="s"})"#),
        (r#"topk(5, task:errors:rate10s{job="s"})"#, r#"topk(5, task:errors:rate10s{job="s"})"#),
        (r#"count_values("value", task:errors:rate10s{job="s"})"#, r#"count_values("value", task:errors:rate10s{job="s"})"#),
        ("topk(3, x) by (job)", "topk by (job) (3, x)"),
        ("quantile without (a) (0.9, x)", "quantile without (a) (0.9, x)"),
        ("SUM BY (job) (x)", "sum by (job) (x)"),
        (r#"sum by ("a.b", job) (x)"#, r#"sum by ("a.b", job) (x)"#),
        ("sum by (offset, bool) (x)", "sum by (offset, bool) (x)"),
    ]);
}

#[test]
fn binary_operators_and_vector_matching() {
    check_printed(&[
        ("a - on() c", "a - on () c"),
        ("a - on(b) c", "a - on (b) c"),
        ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
        ("a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"),
        ("a - on(b) group_left c", "a - on (b) group_left () c"),
        ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
        ("a - ignoring(b) c", "a - ignoring (b) c"),
        ("a - ignoring() c", "a - c"),
        ("a - group_right c", "a - ignoring () group_right () c"),
        ("up > bool 0", "up > bool 0"),
        ("a == bool on(x) group_right(y) b", "a == bool on (x) group_right (y) b"),
        ("a and on() b", "a and on () b"),
        ("a unless ignoring(x) b", "a unless ignoring (x) b"),
        ("a OR b", "a or b"),
        ("a atan2 b", "a atan2 b"),
        (r#"a + on("x.y") b"#, r#"a + on ("x.y") b"#),
        ("1+2*3", "1 + 2 * 3"),
        ("(1+2)*3", "(1 + 2) * 3"),
        ("2^3^2", "2 ^ 3 ^ 2"),
        ("1 - -1", "1 - -1"),
    ]);
}

#[test]
fn selectors_ranges_and_modifiers() {
    check_printed(&[
        ("a offset 1m", "a offset 1m"),
        ("a offset -7m", "a offset -7m"),
        (r#"a{c="d"}[5m] offset 1m"#, r#"a{c="d"}[5m] offset 1m"#),
        ("a[5m] offset 1m", "a[5m] offset 1m"),
        ("a[12m] offset -3m", "a[12m] offset -3m"),
        ("a[1h:5m] offset 1m", "a[1h:5m] offset 1m"),
        (r#"{__name__="a"}"#, r#"{__name__="a"}"#),
        (r#"a{b!="c"}[1m]"#, r#"a{b!="c"}[1m]"#),
        (r#"a{b=~"c"}[1m]"#, r#"a{b=~"c"}[1m]"#),
        (r#"a{b!~"c"}[1m]"#, r#"a{b!~"c"}[1m]"#),
        ("a @ 10", "a @ 10.000"),
        ("a[1m] @ 10", "a[1m] @ 10.000"),
        ("a @ start()", "a @ start()"),
        ("a @ end()", "a @ end()"),
        ("a[1m] @ start()", "a[1m] @ start()"),
        ("a[1m] @ end()", "a[1m] @ end()"),
        ("x offset 5m @ 100", "x @ 100.000 offset 5m"),
        ("x @ -1.5", "x @ -1.500"),
        ("rate(x[300])", "rate(x[5m])"),
        ("x[90d]", "x[90d]"),
        ("x[14d]", "x[2w]"),
        ("x[365d]", "x[1y]"),
        ("x[90m]", "x[1h30m]"),
        ("x[1500ms]", "x[1s500ms]"),
        ("x[5m:]", "x[5m:]"),
        ("max_over_time(rate(x[1m])[5m:30s] offset 1m)", "max_over_time(rate(x[1m])[5m:30s] offset 1m)"),
        ("x[5m:1m] offset 1m @ end()", "x[5m:1m] @ end() offset 1m"),
        (r#"foo{b="1",a="2"}"#, r#"foo{a="2",b="1"}"#),
        ("foo{}", "foo"),
        (r#"{job="x",__name__!="bar"}"#, r#"{__name__!="bar",job="x"}"#),
        (r#"{__name__=~"a.*"}"#, r#"{__name__=~"a.*"}"#),
        // A quoted name inside the braces stays a matcher (Prometheus 3.x).
        (r#"{"foo.bar"}"#, r#"{__name__="foo.bar"}"#),
        (r#"{"foo"}"#, r#"{__name__="foo"}"#),
        (r#"{"foo.bar", "a.b"="c"}"#, r#"{"a.b"="c",__name__="foo.bar"}"#),
        (r#"foo{"a b"!~"c"}"#, r#"foo{"a b"!~"c"}"#),
    ]);
}

#[test]
fn literals_calls_and_unary_minus() {
    check_printed(&[
        ("1e3", "1000"),
        ("0x1F", "31"),
        (".5", "0.5"),
        ("1e-7", "0.0000001"),
        ("Inf", "+Inf"),
        // A unary plus stays on a vector and folds into a number.
        ("+up", "+up"),
        ("+1", "1"),
        ("-Inf", "-Inf"),
        ("NaN", "NaN"),
        ("-0", "-0"),
        ("- -1", "1"),
        // A duration where a number belongs prints as the duration.
        ("time() - 5m", "time() - 5m"),
        ("-1h30m", "-1h30m"),
        ("vector(2h)", "vector(2h)"),
        ("'single'", r#""single""#),
        (r#"`raw\n`"#, r#""raw\\n""#),
        (r#""tab\there \"q\" \u00e9""#, r#""tab\there \"q\" é""#),
        // Bytes that are not UTF-8 print as Go quotes them.
        (r#""a\xc5z""#, r#""a\xc5z""#),
        (r#"label_replace(up, "dst", "$1", "src", "(.*)")"#, r#"label_replace(up, "dst", "$1", "src", "(.*)")"#),
        ("time()", "time()"),
        ("-x", "-x"),
        ("-(1)", "-(1)"),
        ("--x", "--x"),
        ("-x ^ 2", "-x ^ 2"),
        ("((x))", "((x))"),
    ]);
}

/// The layouts Prometheus's prettifier tests expect, which use a line width
/// of 10 to force splitting on short queries.
#[test]
fn prettified_like_prometheus_at_width_10() {
    let cases: &[(&str, &str)] = &[
        ("sum(foo)", "sum(foo)"),
        (r#"sum by() (task:errors:rate10s{job="s"})"#, "sum(\n  task:errors:rate10s{job=\"s\"}\n)"),
        (r#"sum without(job,foo) (task:errors:rate10s{job="s"})"#, "sum without (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)"),
        (r#"sum (task:errors:rate10s{job="s"}) by(job,foo)"#, "sum by (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)"),
        (r#"topk(10, ask:errors:rate10s{job="s"})"#, "topk(\n  10,\n  ask:errors:rate10s{job=\"s\"}\n)"),
        (
            r#"sum by(job,foo) (sum by(job,foo) (task:errors:rate10s{job="s"}))"#,
            "sum by (job, foo) (\n  sum by (job, foo) (\n    task:errors:rate10s{job=\"s\"}\n  )\n)",
        ),
        (
            "sum by(job,foo) # Comment 1.\n(sum(task:errors:rate10s{job=\"s\"}) without(job,foo) # Comment 2.\n)",
            "sum by (job, foo) (\n  sum without (job, foo) (\n    task:errors:rate10s{job=\"s\"}\n  )\n)",
        ),
        ("a+b", "a + b"),
        ("a == bool 1", "  a\n== bool\n  1"),
        ("a + ignoring(job) b", "  a\n+ ignoring (job)\n  b"),
        ("foo_1 + foo_2", "  foo_1\n+\n  foo_2"),
        ("foo_1 + foo_2 + foo_3", "    foo_1\n  +\n    foo_2\n+\n  foo_3"),
        ("foo + baar + foo_3", "  foo + baar\n+\n  foo_3"),
        (
            "foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 + on(instance) group_right foo_4",
            "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n    foo_3\n+ on (instance) group_right ()\n  foo_4",
        ),
        ("rate(foo[1m])", "rate(\n  foo[1m]\n)"),
        ("rate(long_vector_selector[10m:1m] @ start() offset 1m)", "rate(\n  long_vector_selector[10m:1m] @ start() offset 1m\n)"),
        ("histogram_quantile(0.9, rate(foo[1m]))", "histogram_quantile(\n  0.9,\n  rate(\n    foo[1m]\n  )\n)"),
        (
            "max_over_time(rate(demo_api_request_duration_seconds_count[1m])[1m:] @ start() offset 1m)",
            "max_over_time(\n  rate(\n    demo_api_request_duration_seconds_count[1m]\n  )[1m:] @ start() offset 1m\n)",
        ),
        (
            r#"label_replace(up{job="api-server",service="a:c"}, "foo", "$1", "service", "(.*):.*")"#,
            "label_replace(\n  up{job=\"api-server\",service=\"a:c\"},\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
        ("(foo)", "(foo)"),
        ("(_foo_long_)", "(\n  _foo_long_\n)"),
        ("((foo_long))", "(\n  (foo_long)\n)"),
        ("(((foo_long)))", "(\n  (\n    (foo_long)\n  )\n)"),
        ("a @ 1", "a @ 1.000"),
        ("vector_selector @ start()", "vector_selector @ start()"),
        ("(1 + 2)", "(1 + 2)"),
        ("(foo + bar)", "(\n  foo + bar\n)"),
        ("(foo_long + bar_long)", "(\n    foo_long\n  +\n    bar_long\n)"),
        ("((foo_long + bar_long) + bar_2_long)", "(\n    (\n        foo_long\n      +\n        bar_long\n    )\n  +\n    bar_2_long\n)"),
        ("(1111 + 2222)", "(\n    1111\n  +\n    2222\n)"),
        (
            "(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) or (node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)",
            "  (\n        node_timex_offset_seconds\n      >\n        0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      >=\n        0\n  )\nor\n  (\n        node_timex_offset_seconds\n      <\n        -0.05\n    and\n        deriv(\n          node_timex_offset_seconds[5m]\n        )\n      <=\n        0\n  )",
        ),
        (
            r#"(count by (job) (changes(process_start_time_seconds{job="alertmanager"}[10m]) > 4) / count by (job) (up{job="alertmanager"})) >= 0.5"#,
            "  (\n      count by (job) (\n          changes(\n            process_start_time_seconds{job=\"alertmanager\"}[10m]\n          )\n        >\n          4\n      )\n    /\n      count by (job) (\n        up{job=\"alertmanager\"}\n      )\n  )\n>=\n  0.5",
        ),
        ("-1", "-1"),
        ("-vector_selector", "-vector_selector"),
        ("(-vector_selector)", "(\n  -vector_selector\n)"),
        ("-histogram_quantile(0.9,rate(foo[1m]))", "-histogram_quantile(\n  0.9,\n  rate(\n    foo[1m]\n  )\n)"),
        ("-histogram_quantile(0.9, -rate(foo[1m] @ start()))", "-histogram_quantile(\n  0.9,\n  -rate(\n    foo[1m] @ start()\n  )\n)"),
        // Prometheus leaves a subquery that fits unindented under a split
        // parent; matched on purpose.
        ("max_over_time(a[1m:])", "max_over_time(\na[1m:]\n)"),
        // Selectors and literals are never split, however long.
        (r#"some_long_metric{job="x"}"#, r#"some_long_metric{job="x"}"#),
    ];
    let mut failures = Vec::new();
    for (input, want) in cases {
        let got = prettify_with_width(&parse(input).unwrap_or_else(|e| panic!("{input}: {e}")), 10);
        if got != *want {
            failures.push(format!("{input}\n--- want\n{want}\n--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} prettified wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// At the real width of 100: a query that fits stays on one line, and
/// only the nodes that do not fit are split.
#[test]
fn prettified_at_width_100() {
    let cases: &[(&str, &str)] = &[
        ("foo/bar", "foo / bar"),
        (r#"sum by(job) (rate(http_requests_total{job="api"}[5m]))"#, r#"sum by (job) (rate(http_requests_total{job="api"}[5m]))"#),
        (
            r#"sum(rate(http_requests_total{job="api-server",handler="/api/v1/query_range",code=~"5.."}[5m])) by (job) / sum by (job) (rate(http_requests_total{job="api-server"}[5m]))"#,
            "  sum by (job) (\n    rate(http_requests_total{code=~\"5..\",handler=\"/api/v1/query_range\",job=\"api-server\"}[5m])\n  )\n/\n  sum by (job) (rate(http_requests_total{job=\"api-server\"}[5m]))",
        ),
        (
            r#"label_replace(rate(http_requests_total{job="api-server",handler="/api/v1/query_range"}[5m]), "short_handler", "$1", "handler", "/api/v1/(.*)")"#,
            "label_replace(\n  rate(http_requests_total{handler=\"/api/v1/query_range\",job=\"api-server\"}[5m]),\n  \"short_handler\",\n  \"$1\",\n  \"handler\",\n  \"/api/v1/(.*)\"\n)",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(prettify(&parse(input).unwrap()), *want, "{input}");
    }
}

fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("NARTHEX_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

/// Every query of the upstream scripts that parses: its printed form parses
/// to a query that prints the same, and so do its prettified forms (at the
/// real width and at a tiny one that splits nearly everything).
#[test]
fn printing_round_trips_over_the_upstream_scripts() {
    let dir = conformance_dir().join("promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "test")).collect();
    files.sort();
    assert!(files.len() >= 10, "conformance scripts not found in {}", dir.display());
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let script = script::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for c in &script.commands {
            let Command::Eval(e) = &c.command else { continue };
            let Ok(ast) = parse(&e.expr) else { continue };
            checked += 1;
            let once = ast.to_string();
            for (how, text) in [("printed", once.clone()), ("prettified", prettify(&ast)), ("prettified at width 10", prettify_with_width(&ast, 10))] {
                match parse(&text) {
                    Ok(again) if again.to_string() == once => {}
                    Ok(again) => failures.push(format!("{name}:{}: {}\n  {how}: {text}\n  then printed: {again}", c.line, e.expr)),
                    Err(err) => failures.push(format!("{name}:{}: {}\n  {how}: {text}\n  does not parse: {err}", c.line, e.expr)),
                }
            }
        }
    }
    println!("{checked} queries round-tripped");
    assert!(checked > 900, "only {checked} queries parsed");
    assert!(failures.is_empty(), "{} round trips failed:\n{}", failures.len(), failures.join("\n"));
}
