//! The PromQL syntax tree, with byte positions for error messages.

use model::Matcher;

use super::functions::Function;

/// Byte offsets of a node in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// What an expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl ValueType {
    /// Prometheus's name for the type in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        }
    }
}

/// `@ <time>`, `@ start()`, `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// Milliseconds since the epoch.
    Time(i64),
    Start,
    End,
}

#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name when given outside the braces; also present as a
    /// `__name__` matcher. A quoted name inside the braces (`{"a.b"}`) is
    /// only the matcher, as in Prometheus, whose printer tells the two
    /// apart (`a` against `{__name__="a.b"}`).
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// Milliseconds; negative offsets look forward.
    pub offset: i64,
    pub at: Option<At>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte)
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Binding strength, higher binds tighter (Prometheus's grammar).
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 5,
            BinOp::Pow => 6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

/// How the two sides of a vector operation are matched.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// `on(...)` when true, `ignoring(...)` when false.
    pub on: bool,
    pub labels: Vec<String>,
    /// The labels of `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggOp {
    pub fn from_name(name: &str) -> Option<AggOp> {
        Some(match name.to_ascii_lowercase().as_str() {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "group" => AggOp::Group,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "count_values" => AggOp::CountValues,
            "quantile" => AggOp::Quantile,
            "limitk" => AggOp::Limitk,
            "limit_ratio" => AggOp::LimitRatio,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::CountValues => "count_values",
            AggOp::Quantile => "quantile",
            AggOp::Limitk => "limitk",
            AggOp::LimitRatio => "limit_ratio",
        }
    }

    /// The type of the parameter, for the aggregations that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile | AggOp::Limitk | AggOp::LimitRatio => Some(ValueType::Scalar),
            AggOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Expr {
    Number {
        value: f64,
        /// Written as a duration (`5m`, its value in seconds), which
        /// Prometheus's printer writes back as a duration.
        duration: bool,
        span: Span,
    },
    String {
        value: String,
        span: Span,
    },
    Vector(VectorSelector),
    /// `selector[range]`; the range in milliseconds.
    Matrix {
        vs: VectorSelector,
        range: i64,
        span: Span,
    },
    /// `expr[range:step]`; `step` None means the default evaluation interval.
    Subquery {
        expr: Box<Expr>,
        range: i64,
        step: Option<i64>,
        offset: i64,
        at: Option<At>,
        span: Span,
    },
    /// Unary minus, or a unary plus (kept for printing: it changes nothing).
    Unary {
        negative: bool,
        expr: Box<Expr>,
        span: Span,
    },
    Paren {
        expr: Box<Expr>,
        span: Span,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        return_bool: bool,
        matching: Option<VectorMatching>,
        span: Span,
    },
    Call {
        func: &'static Function,
        args: Vec<Expr>,
        span: Span,
    },
    Aggregate {
        op: AggOp,
        expr: Box<Expr>,
        param: Option<Box<Expr>>,
        grouping: Vec<String>,
        without: bool,
        span: Span,
    },
}

impl Expr {
    /// Every vector selector in the expression, those of range selectors
    /// included, in the order they are written: what a query reads, as
    /// Prometheus's `parser.ExtractSelectors` finds it for the exemplar API.
    pub fn selectors(&self) -> Vec<&VectorSelector> {
        fn visit<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
            match e {
                Expr::Number { .. } | Expr::String { .. } => {}
                Expr::Vector(vs) | Expr::Matrix { vs, .. } => out.push(vs),
                Expr::Subquery { expr, .. } | Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => visit(expr, out),
                Expr::Binary { lhs, rhs, .. } => {
                    visit(lhs, out);
                    visit(rhs, out);
                }
                Expr::Call { args, .. } => args.iter().for_each(|a| visit(a, out)),
                Expr::Aggregate { expr, param, .. } => {
                    if let Some(p) = param {
                        visit(p, out);
                    }
                    visit(expr, out);
                }
            }
        }
        let mut out = Vec::new();
        visit(self, &mut out);
        out
    }

    pub fn span(&self) -> Span {
        match self {
            Expr::Number { span, .. }
            | Expr::String { span, .. }
            | Expr::Matrix { span, .. }
            | Expr::Subquery { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Paren { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Call { span, .. }
            | Expr::Aggregate { span, .. } => *span,
            Expr::Vector(vs) => vs.span,
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number { .. } => ValueType::Scalar,
            Expr::String { .. } => ValueType::String,
            Expr::Vector(_) | Expr::Aggregate { .. } => ValueType::Vector,
            Expr::Matrix { .. } | Expr::Subquery { .. } => ValueType::Matrix,
            Expr::Unary { expr, .. } | Expr::Paren { expr, .. } => expr.value_type(),
            Expr::Binary { lhs, rhs, .. } => {
                if lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call { func, .. } => func.return_type,
        }
    }
}
