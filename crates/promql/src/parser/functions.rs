//! The PromQL functions the parser knows, with their argument and return
//! types as Prometheus 3.x declares them.

use super::ast::ValueType::{self, Matrix, Scalar, String as Str, Vector};

#[derive(Debug, PartialEq)]
pub struct Function {
    pub name: &'static str,
    pub arg_types: &'static [ValueType],
    /// 0: exactly `arg_types`; n > 0: up to n trailing arguments may be left
    /// out; -1: the last type repeats any number of times (at least once
    /// less than listed may be given).
    pub variadic: i32,
    pub return_type: ValueType,
    /// Needs `--enable-feature=promql-experimental-functions` in Prometheus.
    pub experimental: bool,
}

const fn f(name: &'static str, arg_types: &'static [ValueType], variadic: i32, return_type: ValueType) -> Function {
    Function { name, arg_types, variadic, return_type, experimental: false }
}

const fn x(name: &'static str, arg_types: &'static [ValueType], variadic: i32, return_type: ValueType) -> Function {
    Function { name, arg_types, variadic, return_type, experimental: true }
}

pub static FUNCTIONS: &[Function] = &[
    f("abs", &[Vector], 0, Vector),
    f("absent", &[Vector], 0, Vector),
    f("absent_over_time", &[Matrix], 0, Vector),
    f("acos", &[Vector], 0, Vector),
    f("acosh", &[Vector], 0, Vector),
    f("asin", &[Vector], 0, Vector),
    f("asinh", &[Vector], 0, Vector),
    f("atan", &[Vector], 0, Vector),
    f("atanh", &[Vector], 0, Vector),
    f("avg_over_time", &[Matrix], 0, Vector),
    f("ceil", &[Vector], 0, Vector),
    f("changes", &[Matrix], 0, Vector),
    f("clamp", &[Vector, Scalar, Scalar], 0, Vector),
    f("clamp_max", &[Vector, Scalar], 0, Vector),
    f("clamp_min", &[Vector, Scalar], 0, Vector),
    f("cos", &[Vector], 0, Vector),
    f("cosh", &[Vector], 0, Vector),
    f("count_over_time", &[Matrix], 0, Vector),
    f("days_in_month", &[Vector], 1, Vector),
    f("day_of_month", &[Vector], 1, Vector),
    f("day_of_week", &[Vector], 1, Vector),
    f("day_of_year", &[Vector], 1, Vector),
    f("deg", &[Vector], 0, Vector),
    f("delta", &[Matrix], 0, Vector),
    f("deriv", &[Matrix], 0, Vector),
    x("double_exponential_smoothing", &[Matrix, Scalar, Scalar], 0, Vector),
    f("exp", &[Vector], 0, Vector),
    f("floor", &[Vector], 0, Vector),
    f("histogram_avg", &[Vector], 0, Vector),
    f("histogram_count", &[Vector], 0, Vector),
    f("histogram_fraction", &[Scalar, Scalar, Vector], 0, Vector),
    f("histogram_quantile", &[Scalar, Vector], 0, Vector),
    f("histogram_stddev", &[Vector], 0, Vector),
    f("histogram_stdvar", &[Vector], 0, Vector),
    f("histogram_sum", &[Vector], 0, Vector),
    f("hour", &[Vector], 1, Vector),
    f("idelta", &[Matrix], 0, Vector),
    f("increase", &[Matrix], 0, Vector),
    x("info", &[Vector, Vector], 1, Vector),
    f("irate", &[Matrix], 0, Vector),
    f("label_join", &[Vector, Str, Str, Str], -1, Vector),
    f("label_replace", &[Vector, Str, Str, Str, Str], 0, Vector),
    f("last_over_time", &[Matrix], 0, Vector),
    f("ln", &[Vector], 0, Vector),
    f("log10", &[Vector], 0, Vector),
    f("log2", &[Vector], 0, Vector),
    x("mad_over_time", &[Matrix], 0, Vector),
    f("max_over_time", &[Matrix], 0, Vector),
    f("min_over_time", &[Matrix], 0, Vector),
    f("minute", &[Vector], 1, Vector),
    f("month", &[Vector], 1, Vector),
    f("pi", &[], 0, Scalar),
    f("predict_linear", &[Matrix, Scalar], 0, Vector),
    f("present_over_time", &[Matrix], 0, Vector),
    f("quantile_over_time", &[Scalar, Matrix], 0, Vector),
    f("rad", &[Vector], 0, Vector),
    f("rate", &[Matrix], 0, Vector),
    f("resets", &[Matrix], 0, Vector),
    f("round", &[Vector, Scalar], 1, Vector),
    f("scalar", &[Vector], 0, Scalar),
    f("sgn", &[Vector], 0, Vector),
    f("sin", &[Vector], 0, Vector),
    f("sinh", &[Vector], 0, Vector),
    f("sort", &[Vector], 0, Vector),
    x("sort_by_label", &[Vector, Str], -1, Vector),
    x("sort_by_label_desc", &[Vector, Str], -1, Vector),
    f("sort_desc", &[Vector], 0, Vector),
    f("sqrt", &[Vector], 0, Vector),
    f("stddev_over_time", &[Matrix], 0, Vector),
    f("stdvar_over_time", &[Matrix], 0, Vector),
    f("sum_over_time", &[Matrix], 0, Vector),
    f("tan", &[Vector], 0, Vector),
    f("tanh", &[Vector], 0, Vector),
    f("time", &[], 0, Scalar),
    f("timestamp", &[Vector], 0, Vector),
    x("ts_of_first_over_time", &[Matrix], 0, Vector),
    x("ts_of_last_over_time", &[Matrix], 0, Vector),
    x("ts_of_max_over_time", &[Matrix], 0, Vector),
    x("ts_of_min_over_time", &[Matrix], 0, Vector),
    x("first_over_time", &[Matrix], 0, Vector),
    f("vector", &[Scalar], 0, Vector),
    // Duration-expression functions (Prometheus main, experimental): the
    // query's step, range, start and end in seconds, and scalar min/max.
    x("step", &[], 0, Scalar),
    x("range", &[], 0, Scalar),
    x("start", &[], 0, Scalar),
    x("end", &[], 0, Scalar),
    x("min_of", &[Scalar, Scalar], 0, Scalar),
    x("max_of", &[Scalar, Scalar], 0, Scalar),
    f("year", &[Vector], 1, Vector),
];

/// Prometheus 2.x's name for `double_exponential_smoothing`, kept so that
/// old dashboards parse; it is not in 3.x.
pub static HOLT_WINTERS: Function =
    Function { name: "holt_winters", arg_types: &[Matrix, Scalar, Scalar], variadic: 0, return_type: Vector, experimental: false };

pub fn lookup(name: &str) -> Option<&'static Function> {
    if name == HOLT_WINTERS.name {
        return Some(&HOLT_WINTERS);
    }
    FUNCTIONS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_enough_to_search() {
        assert!(lookup("rate").is_some_and(|f| f.arg_types == [Matrix]));
        assert!(lookup("holt_winters").is_some());
        assert!(lookup("nope").is_none());
        let mut names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "duplicate function names");
    }
}
