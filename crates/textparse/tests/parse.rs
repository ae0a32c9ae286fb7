//! Table tests for both parsers, the upstream sample expositions, and a
//! property that no input makes a parser panic.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::path::PathBuf;

use model::{Labels, MetricType};
use proptest::prelude::*;
use textparse::{Entry, OpenMetricsParser, Parser, PromParser};

/// An entry with its labels (for series) and exemplar, owned.
#[derive(Debug, PartialEq)]
enum E {
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
    Comment(String),
    Series(String, f64, Option<i64>, Labels),
}

fn collect<'a>(p: &mut impl Parser<'a>) -> Result<Vec<E>, String> {
    let mut out = Vec::new();
    while let Some(e) = p.next().map_err(|e| e.message().to_owned())? {
        out.push(match e {
            Entry::Help { metric, text } => E::Help(metric.into(), text.into_owned()),
            Entry::Type { metric, kind } => E::Type(metric.into(), kind),
            Entry::Unit { metric, unit } => E::Unit(metric.into(), unit.into()),
            Entry::Comment { text } => E::Comment(String::from_utf8_lossy(text).into_owned()),
            Entry::Series { raw, value, timestamp } => E::Series(String::from_utf8(raw.to_vec()).unwrap(), value, timestamp, p.labels()),
        });
    }
    Ok(out)
}

fn prom(input: &str) -> Result<Vec<E>, String> {
    collect(&mut PromParser::new(input.as_bytes()))
}

fn om(input: &str) -> Result<Vec<E>, String> {
    collect(&mut OpenMetricsParser::new(input.as_bytes()))
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn series(raw: &str, v: f64, ts: Option<i64>, pairs: &[(&str, &str)]) -> E {
    E::Series(raw.into(), v, ts, ls(pairs))
}

#[test]
fn prom_full_exposition() {
    let input = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.\n\
# \tTYPE go_gc_duration_seconds summary\n\
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n\
go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05\n\
go_gc_duration_seconds{ quantile = \"0.5\" , a = \"b\" } 8.3835e-05\n\
\n\
# Hrandom comment starting with prefix of HELP\n\
#\n\
wind_speed{A=\"2\",c=\"3\"} 12345\n\
# comment with escaped \\n newline\n\
nohelp1 1\n\
# HELP nohelp2 \n\
nohelp2 1\n\
   leading_space  2   1234\n\
go_gc_duration_seconds_count 99\n\
some:aggregate:rate5m{a_b=\"c\"} 1\n\
# HELP go_goroutines Number of goroutines that currently exist.\n\
# TYPE go_goroutines gauge\n\
go_goroutines 33  \t123123\n\
_metric_starting_with_underscore 1\n\
testmetric{_label_starting_with_underscore=\"foo\"} 1\n\
testmetric{label=\"\\\"bar\\\"\"} 1\n\
testmetric{le=\"10\"} 1\n\
# HELP metric foo\\x00bar\n\
null_byte_metric{a=\"abc\\x00\"} 1";
    let got = prom(input).unwrap();
    let want = vec![
        E::Help("go_gc_duration_seconds".into(), "A summary of the GC invocation durations.".into()),
        E::Type("go_gc_duration_seconds".into(), MetricType::Summary),
        series("go_gc_duration_seconds{quantile=\"0\"}", 4.9351e-05, None, &[("__name__", "go_gc_duration_seconds"), ("quantile", "0")]),
        series("go_gc_duration_seconds{quantile=\"0.25\",}", 7.424100000000001e-05, None, &[("__name__", "go_gc_duration_seconds"), ("quantile", "0.25")]),
        series(
            "go_gc_duration_seconds{ quantile = \"0.5\" , a = \"b\" }",
            8.3835e-05,
            None,
            &[("__name__", "go_gc_duration_seconds"), ("quantile", "0.5"), ("a", "b")],
        ),
        E::Comment("# Hrandom comment starting with prefix of HELP".into()),
        E::Comment("#".into()),
        series("wind_speed{A=\"2\",c=\"3\"}", 12345.0, None, &[("__name__", "wind_speed"), ("A", "2"), ("c", "3")]),
        E::Comment("# comment with escaped \\n newline".into()),
        series("nohelp1", 1.0, None, &[("__name__", "nohelp1")]),
        E::Help("nohelp2".into(), "".into()),
        series("nohelp2", 1.0, None, &[("__name__", "nohelp2")]),
        series("leading_space", 2.0, Some(1234), &[("__name__", "leading_space")]),
        series("go_gc_duration_seconds_count", 99.0, None, &[("__name__", "go_gc_duration_seconds_count")]),
        series("some:aggregate:rate5m{a_b=\"c\"}", 1.0, None, &[("__name__", "some:aggregate:rate5m"), ("a_b", "c")]),
        E::Help("go_goroutines".into(), "Number of goroutines that currently exist.".into()),
        E::Type("go_goroutines".into(), MetricType::Gauge),
        series("go_goroutines", 33.0, Some(123123), &[("__name__", "go_goroutines")]),
        series("_metric_starting_with_underscore", 1.0, None, &[("__name__", "_metric_starting_with_underscore")]),
        series("testmetric{_label_starting_with_underscore=\"foo\"}", 1.0, None, &[("__name__", "testmetric"), ("_label_starting_with_underscore", "foo")]),
        series("testmetric{label=\"\\\"bar\\\"\"}", 1.0, None, &[("__name__", "testmetric"), ("label", "\"bar\"")]),
        series("testmetric{le=\"10\"}", 1.0, None, &[("__name__", "testmetric"), ("le", "10")]),
        E::Help("metric".into(), "foo\\x00bar".into()),
        series("null_byte_metric{a=\"abc\\x00\"}", 1.0, None, &[("__name__", "null_byte_metric"), ("a", "abc\\x00")]),
    ];
    assert_eq!(got, want);
}

#[test]
fn prom_escapes_and_quoted_names() {
    // `__name__` given both as a label and as a quoted name is a duplicate.
    assert_eq!(prom("{__name__=\"x\", \"y\"} 1\n").unwrap_err(), "label name \"__name__\" is not unique while parsing: \"{__name__=\\\"x\\\", \\\"y\\\"}\"");
    let got = prom("# HELP \"my.metric\" multi\\nline \\\\ and \\\"q\\\"\n{\"my.metric\", \"my.label\"=\"v\\\\a\\nb\\\"c\\t\"} 1\n").unwrap();
    assert_eq!(
        got,
        vec![
            E::Help("my.metric".into(), "multi\nline \\ and \\\"q\\\"".into()),
            series("{\"my.metric\", \"my.label\"=\"v\\\\a\\nb\\\"c\\t\"}", 1.0, None, &[("__name__", "my.metric"), ("my.label", "v\\a\nb\"c\\t")]),
        ]
    );
    assert_eq!(prom("{\"a\"} 1").unwrap(), vec![series("{\"a\"}", 1.0, None, &[("__name__", "a")])]);
    assert_eq!(prom("a{\"b c\"=\"d\"} 1").unwrap(), vec![series("a{\"b c\"=\"d\"}", 1.0, None, &[("__name__", "a"), ("b c", "d")])]);
}

#[test]
fn prom_values_and_timestamps() {
    let cases: &[(&str, f64, Option<i64>)] = &[
        ("m 1e3", 1000.0, None),
        ("m .5", 0.5, None),
        ("m -0.5e-2 -0", -0.005, None),
        ("m +Inf", f64::INFINITY, None),
        ("m -Inf", f64::NEG_INFINITY, None),
        ("m Inf", f64::INFINITY, None),
        ("m infinity", f64::INFINITY, None),
        ("m 1 9223372036854775807", 1.0, Some(i64::MAX)),
        ("m 1 0\n", 1.0, Some(0)),
    ];
    for &(input, v, ts) in cases {
        match prom(input) {
            Ok(got) if input.ends_with("-0") => assert!(got.is_empty(), "{input}"),
            Ok(got) => assert_eq!(got, vec![series("m", v, ts, &[("__name__", "m")])], "{input}"),
            Err(e) if input.ends_with("-0") => assert!(e.starts_with("expected timestamp or new record"), "{e}"),
            Err(e) => panic!("{input}: {e}"),
        }
    }
    let Ok(got) = prom("m NaN\n") else { panic!() };
    let E::Series(_, v, _, _) = got[0] else { panic!() };
    assert_eq!(v.to_bits(), 0x7ff8_0000_0000_0001, "NaN is Prometheus's normal NaN");
}

#[test]
fn prom_errors() {
    let cases: &[(&str, &str)] = &[
        ("a", "expected value after metric, got \"\\n\" (\"INVALID\") while parsing: \"a\\n\""),
        ("a{b='c'} 1\n", "expected label value, got \"'\" (\"INVALID\") while parsing: \"a{b='\""),
        ("a{b=\n", "expected label value, got \"\\n\" (\"INVALID\") while parsing: \"a{b=\\n\""),
        ("a{\u{ff}=\"foo\"} 1\n", "expected label name, got \"\\xc3\" (\"INVALID\") while parsing: \"a{\\xc3\""),
        ("a true\n", "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\""),
        ("something_weird{problem=\"", "expected label value, got \"\\\"\\n\" (\"INVALID\") while parsing: \"something_weird{problem=\\\"\\n\""),
        ("empty_label_name{=\"\"} 0", "expected label name, got \"=\\\"\" (\"EQUAL\") while parsing: \"empty_label_name{=\\\"\""),
        ("foo 1_2\n", "unsupported character in float while parsing: \"foo 1_2\""),
        ("foo 0x1p-3\n", "unsupported character in float while parsing: \"foo 0x1p-3\""),
        ("foo 0x1P-3\n", "unsupported character in float while parsing: \"foo 0x1P-3\""),
        ("foo 0x10\n", "strconv.ParseFloat: parsing \"0x10\": invalid syntax while parsing: \"foo 0x10\""),
        ("foo +NaN\n", "strconv.ParseFloat: parsing \"+NaN\": invalid syntax while parsing: \"foo +NaN\""),
        ("foo 1e400\n", "strconv.ParseFloat: parsing \"1e400\": value out of range while parsing: \"foo 1e400\""),
        (
            "foo 1 99999999999999999999\n",
            "strconv.ParseInt: parsing \"99999999999999999999\": value out of range while parsing: \"foo 1 99999999999999999999\"",
        ),
        ("foo 1 1.5\n", "expected next entry after timestamp, got \".\" (\"INVALID\") while parsing: \"foo 1 1.\""),
        ("foo 1 -3\n", "expected timestamp or new record, got \"-\" (\"INVALID\") while parsing: \"foo 1 -\""),
        ("foo 1 2 3\n", "expected next entry after timestamp, got \"3\\n\" (\"TIMESTAMP\") while parsing: \"foo 1 2 3\\n\""),
        ("a{b=\"c\",,d=\"e\"} 1\n", "expected label name, got \",d\" (\"COMMA\") while parsing: \"a{b=\\\"c\\\",,d\""),
        ("a{,b=\"c\"} 1\n", "expected label name, got \",b\" (\"COMMA\") while parsing: \"a{,b\""),
        ("a{b=\"\u{ff}\"} 1\n", ""), /* valid UTF-8: not an error */
        ("{\"a\", \"b = \"c\"}", "expected equal, got \"c\\\"\" (\"LNAME\") while parsing: \"{\\\"a\\\", \\\"b = \\\"c\\\"\""),
        ("{\"a\",b\\nc=\"d\"} 1", "expected equal, got \"\\\\\" (\"INVALID\") while parsing: \"{\\\"a\\\",b\\\\\""),
        ("{b=\"c\"} 1\n", "metric name not set while parsing: \"{b=\\\"c\\\"} 1\""),
        ("{\"a\",\"b\"} 1\n", "metric name already set while parsing: \"{\\\"a\\\",\\\"b\\\"}\""),
        ("a{b=\"1\",b=\"2\"} 1\n", "label name \"b\" is not unique while parsing: \"a{b=\\\"1\\\",b=\\\"2\\\"}\""),
        ("a{__name__=\"x\"} 1\n", "label name \"__name__\" is not unique while parsing: \"a{__name__=\\\"x\\\"}\""),
        ("# TYPE foo bar\n", "invalid metric type \"bar\""),
        ("# TYPE foo  counter\n", "invalid metric type \" counter\""),
        ("# HELP\tfoo bar\n", ""),
        ("# HELP 1foo bar\n", "expected metric name after HELP, got \"1\" (\"INVALID\") while parsing: \"# HELP 1\""),
        ("# HELP \n", "expected metric name after HELP, got \"\\n\" (\"INVALID\") while parsing: \"# HELP \\n\""),
        ("}a 1\n", "expected a valid start token, got \"}\" (\"INVALID\") while parsing: \"}\""),
        ("a{b=\"c\"}{d=\"e\"} 1\n", "expected value after metric, got \"{d\" (\"BOPEN\") while parsing: \"a{b=\\\"c\\\"}{d\""),
    ];
    for &(input, want) in cases {
        match prom(input) {
            Ok(_) => assert_eq!(want, "", "{input:?} parsed"),
            Err(got) => assert_eq!(got, want, "{input:?}"),
        }
    }
}

#[test]
fn prom_invalid_utf8_and_line_numbers() {
    let mut p = PromParser::new(b"a 1\nb 2\n\nc{d=\"\xff\"} 1\n");
    assert!(matches!(p.next(), Ok(Some(_))));
    assert!(matches!(p.next(), Ok(Some(_))));
    let err = p.next().unwrap_err();
    assert_eq!(err.message(), "invalid UTF-8 label value: \"\\\"\\xff\\\"\"");
    assert_eq!(err.line(), 4);
    assert_eq!(err.to_string(), "invalid UTF-8 label value: \"\\\"\\xff\\\"\" (line 4)");
    assert!(matches!(p.next(), Ok(None)), "an error ends the input");

    let err = PromParser::new(b"# HELP m \xff\n").next().unwrap_err();
    assert_eq!(err.message(), "help text \"\\xff\" is not a valid utf8 string");
    let err = PromParser::new(b"{\"\xff\"} 1\n").next().unwrap_err();
    assert_eq!(err.message(), "invalid UTF-8 metric name: \"\\xff\"");
    // Comments may hold any bytes, as in Prometheus.
    assert!(matches!(PromParser::new(b"# \xff\n").next(), Ok(Some(Entry::Comment { .. }))));
    // A NUL at the start of a line ends the input, as Prometheus's lexer does.
    assert_eq!(prom("a 1\n\0garbage{").unwrap().len(), 1);
}

#[test]
fn prom_raw_is_cache_key_and_labels_are_lazy() {
    let body = b"a{x=\"1\"} 1\na{x=\"1\"} 2 5\n";
    let mut p = PromParser::new(body);
    let Ok(Some(Entry::Series { raw: r1, .. })) = p.next() else { panic!() };
    let Ok(Some(Entry::Series { raw: r2, timestamp, .. })) = p.next() else { panic!() };
    assert_eq!(r1, r2);
    assert_eq!(timestamp, Some(5));
    assert!(std::ptr::eq(r1.as_ptr(), body.as_ptr()), "raw borrows the body");
    assert_eq!(p.labels(), ls(&[("__name__", "a"), ("x", "1")]));
    // Help text without escapes is borrowed.
    let mut p = PromParser::new(b"# HELP a plain\n");
    assert!(matches!(p.next(), Ok(Some(Entry::Help { text: Cow::Borrowed("plain"), .. }))));
}

#[test]
fn openmetrics_full_exposition() {
    let input = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.\n\
# TYPE go_gc_duration_seconds summary\n\
# UNIT go_gc_duration_seconds seconds\n\
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n\
go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05\n\
# HELP nohelp1 \n\
# HELP help2 escape \\ \\n \\\\ \\\" \\x chars\n\
# UNIT nounit \n\
go_gc_duration_seconds{quantile=\"1.0\",a=\"b\"} 8.3835e-05\n\
go_gc_duration_seconds_count 99\n\
some:aggregate:rate5m{a_b=\"c\"} 1\n\
# TYPE foo counter\n\
foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n\
foo_created 1520872607.123\n\
# TYPE bar histogram\n\
bar_bucket{le=\"+Inf\"} 17 # {id=\"x\",\"dotted.name\"=\"y\"} 9 123.456\n\
# TYPE s stateset\n\
s{s=\"a\"} 1\n\
{\"quoted.name\",a=\"b\"} 1\n\
# EOF\n";
    let mut p = OpenMetricsParser::new(input.as_bytes());
    let mut got = Vec::new();
    let mut exemplars = Vec::new();
    while let Some(e) = p.next().unwrap() {
        if let Entry::Series { raw, value, timestamp } = e {
            got.push(E::Series(String::from_utf8(raw.to_vec()).unwrap(), value, timestamp, p.labels()));
            exemplars.push(p.exemplar());
        } else {
            got.push(match e {
                Entry::Help { metric, text } => E::Help(metric.into(), text.into()),
                Entry::Type { metric, kind } => E::Type(metric.into(), kind),
                Entry::Unit { metric, unit } => E::Unit(metric.into(), unit.into()),
                other => panic!("{other:?}"),
            });
        }
    }
    let want = vec![
        E::Help("go_gc_duration_seconds".into(), "A summary of the GC invocation durations.".into()),
        E::Type("go_gc_duration_seconds".into(), MetricType::Summary),
        E::Unit("go_gc_duration_seconds".into(), "seconds".into()),
        series("go_gc_duration_seconds{quantile=\"0\"}", 4.9351e-05, None, &[("__name__", "go_gc_duration_seconds"), ("quantile", "0")]),
        series("go_gc_duration_seconds{quantile=\"0.25\",}", 7.424100000000001e-05, None, &[("__name__", "go_gc_duration_seconds"), ("quantile", "0.25")]),
        E::Help("nohelp1".into(), "".into()),
        E::Help("help2".into(), "escape \\ \n \\ \" \\x chars".into()),
        E::Unit("nounit".into(), "".into()),
        series(
            "go_gc_duration_seconds{quantile=\"1.0\",a=\"b\"}",
            8.3835e-05,
            None,
            &[("__name__", "go_gc_duration_seconds"), ("quantile", "1.0"), ("a", "b")],
        ),
        series("go_gc_duration_seconds_count", 99.0, None, &[("__name__", "go_gc_duration_seconds_count")]),
        series("some:aggregate:rate5m{a_b=\"c\"}", 1.0, None, &[("__name__", "some:aggregate:rate5m"), ("a_b", "c")]),
        E::Type("foo".into(), MetricType::Counter),
        series("foo_total", 17.0, Some(1520879607789), &[("__name__", "foo_total")]),
        series("foo_created", 1520872607.123, None, &[("__name__", "foo_created")]),
        E::Type("bar".into(), MetricType::Histogram),
        series("bar_bucket{le=\"+Inf\"}", 17.0, None, &[("__name__", "bar_bucket"), ("le", "+Inf")]),
        E::Type("s".into(), MetricType::StateSet),
        series("s{s=\"a\"}", 1.0, None, &[("__name__", "s"), ("s", "a")]),
        series("{\"quoted.name\",a=\"b\"}", 1.0, None, &[("__name__", "quoted.name"), ("a", "b")]),
    ];
    assert_eq!(got, want);
    let ex: Vec<_> = exemplars.into_iter().flatten().collect();
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].labels.clone(), ex[0].value, ex[0].has_ts), (ls(&[("id", "counter-test")]), 5.0, false));
    assert_eq!((ex[1].labels.clone(), ex[1].value, ex[1].ts, ex[1].has_ts), (ls(&[("id", "x"), ("dotted.name", "y")]), 9.0, 123456, true));
}

#[test]
fn openmetrics_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "data does not end with # EOF"),
        ("a 1\n", "data does not end with # EOF"),
        ("a 1", "data does not end with # EOF"),
        ("# EOF\na 1", "unexpected data after # EOF"),
        ("# EOF\n\n", "unexpected data after # EOF"),
        ("# EOFa 1", "unexpected data after # EOF"),
        ("# comment\n# EOF\n", "expected a valid start token, got \"# c\" (\"INVALID\") while parsing: \"# c\""),
        ("#\tTYPE c counter\n", "expected a valid start token, got \"#\\t\" (\"INVALID\") while parsing: \"#\\t\""),
        ("# TYPE c  counter\n", "invalid metric type \" counter\""),
        ("# TYPE c untyped\n# EOF\n", "invalid metric type \"untyped\""),
        ("# TYPE c\n# EOF\n", "expected text in TYPE"),
        ("# UNIT metric suffix\n", "unit \"suffix\" not a suffix of metric \"metric\""),
        ("# UNIT metricsuffix suffix\n", "unit \"suffix\" not a suffix of metric \"metricsuffix\""),
        ("# UNIT m suffix\n", "unit \"suffix\" not a suffix of metric \"m\""),
        ("a 1 1 1\n# EOF\n", "expected next entry after timestamp, got \" 1\\n\" (\"TIMESTAMP\") while parsing: \"a 1 1 1\\n\""),
        ("a{b='c'} 1\n# EOF\n", "expected label value, got \"'\" (\"INVALID\") while parsing: \"a{b='\""),
        ("a{,b=\"c\"} 1\n# EOF\n", "expected label name, got \",b\" (\"COMMA\") while parsing: \"a{,b\""),
        ("a{b=\"c\"d=\"e\"} 1\n# EOF\n", "expected comma or brace close, got \"d=\" (\"LNAME\") while parsing: \"a{b=\\\"c\\\"d=\""),
        ("a{b=\"c\",,d=\"e\"} 1\n# EOF\n", "expected label name, got \",d\" (\"COMMA\") while parsing: \"a{b=\\\"c\\\",,d\""),
        ("a{b=\n# EOF\n", "expected label value, got \"\\n\" (\"INVALID\") while parsing: \"a{b=\\n\""),
        ("a{b=\"c\", d=\"e\"} 1\n# EOF\n", "expected label name, got \" \" (\"INVALID\") while parsing: \"a{b=\\\"c\\\", \""),
        ("a  1\n# EOF\n", "expected value after metric, got \"  \" (\"INVALID\") while parsing: \"a  \""),
        ("a\t1\n# EOF\n", "expected value after metric, got \"\\t\" (\"INVALID\") while parsing: \"a\\t\""),
        ("a true\n# EOF\n", "strconv.ParseFloat: parsing \"true\": invalid syntax while parsing: \"a true\""),
        ("a 1 NaN\n# EOF\n", "invalid timestamp NaN"),
        ("a 1 -Inf\n# EOF\n", "invalid timestamp -Inf"),
        ("a 1 # {b=\"c\"} 1 Inf\n# EOF\n", "invalid exemplar timestamp +Inf"),
        ("a 1 # {b=\"c\"}\n# EOF\n", "expected value after exemplar labels, got \"\\n\" (\"INVALID\") while parsing: \"a 1 # {b=\\\"c\\\"}\\n\""),
        ("a 1 # {\"b\"} 1\n# EOF\n", "expected label name, got \"} \" (\"BCLOSE\") while parsing: \"a 1 # {\\\"b\\\"} \""),
        (
            "a 1 # {b=\"c\"} 1 2 3\n# EOF\n",
            "expected next entry after exemplar timestamp, got \" 3\\n\" (\"TIMESTAMP\") while parsing: \"a 1 # {b=\\\"c\\\"} 1 2 3\\n\"",
        ),
        ("a{b=\"1\",b=\"2\"} 1\n# EOF\n", "label name \"b\" is not unique while parsing: \"a{b=\\\"1\\\",b=\\\"2\\\"}\""),
        ("a{b=\"\u{1F600}\"} 1\n# EOF\n", ""),
    ];
    for &(input, want) in cases {
        match om(input) {
            Ok(_) => assert_eq!(want, "", "{input:?} parsed"),
            Err(got) => assert_eq!(got, want, "{input:?}"),
        }
    }
    let err = OpenMetricsParser::new(b"a{b=\"\xff\"} 1\n# EOF\n").next().unwrap_err();
    assert_eq!(err.message(), "invalid UTF-8 label value: \"\\\"\\xff\\\"\"");
    let mut p = OpenMetricsParser::new(b"a 1\nb 2\n# EOF\nx");
    assert!(p.next().is_ok() && p.next().is_ok());
    // The unexpected data is on line 4.
    assert_eq!(p.next().unwrap_err().line(), 4);
}

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/exposition")
}

#[derive(Debug, Default, PartialEq)]
struct Counts {
    help: usize,
    types: usize,
    units: usize,
    comments: usize,
    series: usize,
    exemplars: usize,
}

fn count<'a>(p: &mut impl Parser<'a>, mut check: impl FnMut(&[u8], f64, Option<i64>, &Labels)) -> Counts {
    let mut c = Counts::default();
    while let Some(e) = p.next().unwrap() {
        match e {
            Entry::Help { .. } => c.help += 1,
            Entry::Type { .. } => c.types += 1,
            Entry::Unit { .. } => c.units += 1,
            Entry::Comment { .. } => c.comments += 1,
            Entry::Series { raw, value, timestamp } => {
                c.series += 1;
                c.exemplars += usize::from(p.exemplar().is_some());
                check(raw, value, timestamp, &p.labels());
            }
        }
    }
    c
}

#[test]
fn upstream_text_samples() {
    for (file, help, types) in [("alltypes.237mfs.prom.txt", 237, 237), ("alltypes.237mfs.nometa.prom.txt", 0, 0)] {
        let body = std::fs::read(conformance_dir().join(file)).unwrap();
        let mut seen = 0;
        let got = count(&mut PromParser::new(&body), |raw, v, ts, l| {
            assert_eq!(ts, None);
            assert!(!l.metric_name().is_empty());
            if raw == b"go_gc_cycles_automatic_gc_cycles_total" {
                assert_eq!(v, 190932.0);
                seen += 1;
            }
            if raw == b"go_gc_duration_seconds{quantile=\"0.25\"}" {
                assert_eq!((v, l.get("quantile")), (0.00010188, "0.25"));
                seen += 1;
            }
            if raw == b"go_gc_gomemlimit_bytes" {
                assert_eq!(v, 9.03676723e+08);
                seen += 1;
            }
        });
        // Every non-# line is a series; the trailing `# EOF` is a comment here.
        assert_eq!(got, Counts { help, types, units: 0, comments: 1, series: 1857, exemplars: 0 }, "{file}");
        assert_eq!(seen, 3, "{file}");
    }
}

#[test]
fn upstream_openmetrics_samples() {
    let body = std::fs::read(conformance_dir().join("alltypes.5mfs.om.txt")).unwrap();
    let mut checked = 0;
    let got = count(&mut OpenMetricsParser::new(&body), |raw, v, _, l| {
        if raw == b"rpc_requests_created{service=\"uniform\"}" {
            assert_eq!(v, 1.7268398130168471e+09);
            checked += 1;
        }
        if raw == b"rpc_durations_histogram_seconds_bucket{le=\"-0.0002899999999999998\"}" {
            assert_eq!((v, l.get("le")), (3.0, "-0.0002899999999999998"));
            checked += 1;
        }
    });
    assert_eq!(got, Counts { help: 5, types: 5, units: 0, comments: 0, series: 53, exemplars: 6 });
    assert_eq!(checked, 2);

    let mut p = OpenMetricsParser::new(&body);
    let ex = loop {
        match p.next().unwrap() {
            Some(Entry::Series { raw, .. }) if raw.ends_with(b"{le=\"-0.0002899999999999998\"}") => break p.exemplar().unwrap(),
            Some(_) => {}
            None => panic!("series not found"),
        }
    };
    assert_eq!(ex.labels, ls(&[("dummyID", "17783")]));
    assert_eq!((ex.value, ex.ts, ex.has_ts), (-0.0003825067330956884, 1726839814223, true));

    // No newline after the final `# EOF`.
    let body = std::fs::read(conformance_dir().join("1histogram.om.txt")).unwrap();
    assert!(!body.ends_with(b"\n"));
    let got = count(&mut OpenMetricsParser::new(&body), |_, _, _, l| assert_eq!(l.get("address"), "0.0.0.0"));
    assert_eq!(got, Counts { help: 1, types: 1, units: 0, comments: 0, series: 42, exemplars: 0 });
}

fn drain<'a>(mut p: impl Parser<'a>) {
    for _ in 0..100_000 {
        match p.next() {
            Ok(Some(Entry::Series { .. })) => {
                let _ = p.labels();
                let _ = p.exemplar();
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("parser did not terminate");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        drain(PromParser::new(&b));
        drain(OpenMetricsParser::new(&b));
    }

    #[test]
    fn exposition_like_input_never_panics(s in "[a-z{}=\",# \\\\\n.0-9\t_:+EOFNaIf\u{ff}-]{0,96}") {
        drain(PromParser::new(s.as_bytes()));
        drain(OpenMetricsParser::new(s.as_bytes()));
    }
}
