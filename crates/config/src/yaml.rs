//! The YAML facade: strict decoding into serde types, with Prometheus's
//! wording, and encoding for display.
//!
//! Prometheus decodes its config with go-yaml v2 in strict mode. Users know
//! its errors (`field foo not found in type config.plain`, `field x already
//! set in type ...`), its YAML 1.1 booleans and its `!!binary` tag, and we
//! keep all of that here so that no other module sees the parser.
//!
//! Two conventions bridge Go's struct embedding:
//! * A struct field renamed to a name starting with [`INLINE`] (`$inline`,
//!   `$inline_sd`, ...) receives, as one map, the keys of its parent mapping
//!   that the parent's own fields did not take (Go's `yaml:",inline"`). Each
//!   inlined struct takes the keys it knows; a key no struct takes is an
//!   unknown field of the outermost type.
//! * A struct's serde name is the Go type name used in those errors
//!   (`#[serde(rename = "config.plain")]`); it is never written anywhere.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use base64::Engine as _;
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

/// The prefix of serde field names that mark an inlined (embedded) struct.
pub const INLINE: &str = "$inline";

/// Aliases may not expand a document past this many nodes or scalar bytes
/// (a "billion laughs" file must not exhaust memory).
const MAX_NODES: usize = 1_000_000;
const MAX_BYTES: usize = 64 << 20;
/// Collections may not nest deeper than this: decoding recurses, and a
/// config never needs more than a dozen levels.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Scalar { value: String, style: ScalarStyle, tag: Option<Tag> },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML node with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    kind: Kind,
    line: usize,
    col: usize,
}

/// A decoding error, with the position of the node it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: Option<usize>,
    pub path: String,
    pub msg: String,
    unknown_field: Option<String>,
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// Not YAML at all; the message carries its own position.
    Syntax,
    /// A shape mismatch found by this decoder (go-yaml's "unmarshal errors").
    Unmarshal,
    /// A value refused by the type it decodes into.
    Custom,
}

impl Error {
    fn new(msg: impl Into<String>) -> Self {
        Error { line: None, path: String::new(), msg: msg.into(), unknown_field: None, kind: ErrorKind::Unmarshal }
    }

    fn at(mut self, node: &Node, path: &str) -> Self {
        if self.line.is_none() {
            self.line = Some(node.line);
            self.path = path.to_owned();
        }
        self
    }
}

impl fmt::Display for Error {
    /// Shape errors read as go-yaml prints them (`yaml: unmarshal errors:`),
    /// with the path added; a value's own error keeps its text first, so
    /// that it reads as Prometheus's, followed by where it was found.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.is_empty() { String::new() } else { format!(" (at {})", self.path) };
        match (self.kind, self.line) {
            (ErrorKind::Syntax, _) | (_, None) => f.write_str(&self.msg),
            (ErrorKind::Unmarshal, Some(l)) => write!(f, "yaml: unmarshal errors:\n  line {l}: {}{at}", self.msg),
            (ErrorKind::Custom, Some(l)) => {
                let at = if self.path.is_empty() { String::new() } else { format!(", {}", self.path) };
                write!(f, "{} (line {l}{at})", self.msg)
            }
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let mut e = Error::new(msg.to_string());
        e.kind = ErrorKind::Custom;
        e
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        let mut e = Error::new(format!("field {field} not found"));
        e.unknown_field = Some(field.to_owned());
        e
    }
}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }
}

// ---------------------------------------------------------------------------
// Parsing text into nodes.

/// Parses the first document of `text`. An empty document is a null node.
pub fn parse(text: &str) -> Result<Node, Error> {
    let mut parser = Parser::new_from_str(text);
    let mut b = TreeBuilder::default();
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| {
            let mut err = Error::new(format!("yaml: line {}: {}", e.marker().line(), e.info()));
            err.line = Some(e.marker().line());
            err.kind = ErrorKind::Syntax;
            err
        })?;
        let (line, col) = (span.start.line(), span.start.col() + 1);
        match ev {
            Event::DocumentEnd => {
                if b.root.is_some() {
                    break;
                }
            }
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => {}
            Event::Alias(id) => {
                let node = b.anchors.get(&id).cloned().ok_or_else(|| Error::new("yaml: unknown anchor"))?;
                let (nodes, bytes) = count_nodes(&node);
                b.nodes += nodes;
                b.bytes += bytes;
                if b.nodes > MAX_NODES || b.bytes > MAX_BYTES {
                    return Err(Error::new("yaml: document contains excessive aliasing"));
                }
                b.push(node, 0)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                b.nodes += 1;
                let node = Node { kind: Kind::Scalar { value: value.into_owned(), style, tag: tag.map(|t| t.into_owned()) }, line, col };
                b.push(node, anchor)?;
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if b.stack.len() >= MAX_DEPTH => {
                let mut e = Error::new(format!("yaml: line {line}: exceeded max depth of {MAX_DEPTH}"));
                e.kind = ErrorKind::Syntax;
                return Err(e);
            }
            Event::SequenceStart(anchor, _) => b.stack.push((Node { kind: Kind::Seq(Vec::new()), line, col }, anchor, None)),
            Event::MappingStart(anchor, _) => b.stack.push((Node { kind: Kind::Map(Vec::new()), line, col }, anchor, None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, pending_key) = b.stack.pop().ok_or_else(|| Error::new("yaml: unbalanced document"))?;
                if pending_key.is_some() {
                    return Err(Error::new("yaml: mapping key without value"));
                }
                b.nodes += 1;
                b.push(node, anchor)?;
            }
        }
    }
    Ok(b.root.unwrap_or(Node { kind: Kind::Scalar { value: String::new(), style: ScalarStyle::Plain, tag: None }, line: 1, col: 1 }))
}

/// Nodes and scalar bytes in a tree.
fn count_nodes(n: &Node) -> (usize, usize) {
    let add = |a: (usize, usize), b: (usize, usize)| (a.0 + b.0, a.1 + b.1);
    match &n.kind {
        Kind::Scalar { value, .. } => (1, value.len()),
        Kind::Seq(items) => items.iter().map(count_nodes).fold((1, 0), add),
        Kind::Map(items) => items.iter().map(|(k, v)| add(count_nodes(k), count_nodes(v))).fold((1, 0), add),
    }
}

#[derive(Default)]
struct TreeBuilder {
    // Open collections, each with its anchor and, for maps, a key awaiting
    // its value.
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
    bytes: usize,
}

impl TreeBuilder {
    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, _, pending)) => match &mut parent.kind {
                Kind::Seq(items) => items.push(node),
                Kind::Map(items) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => items.push((key, node)),
                },
                Kind::Scalar { .. } => return Err(Error::new("yaml: scalar cannot hold children")),
            },
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Scalar resolution, as go-yaml v2 does it (YAML 1.1 flavoured).

fn is_core(tag: &Option<Tag>, suffix: &str) -> bool {
    tag.as_ref().is_some_and(|t| t.is_yaml_core_schema() && t.suffix == suffix)
}

impl Node {
    pub fn line(&self) -> usize {
        self.line
    }

    fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar { value, style: ScalarStyle::Plain, tag } => {
                (tag.is_none() || is_core(tag, "null")) && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            Kind::Scalar { tag, .. } => is_core(tag, "null"),
            _ => false,
        }
    }

    fn plain_scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, style: ScalarStyle::Plain, tag: None } => Some(value),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            Kind::Scalar { value, .. } => {
                if self.is_null() {
                    "!!null".to_owned()
                } else if parse_bool(self).is_some() {
                    format!("!!bool `{value}`")
                } else if self.plain_scalar().and_then(parse_int).is_some() {
                    format!("!!int `{value}`")
                } else if self.plain_scalar().and_then(parse_float).is_some() {
                    format!("!!float `{value}`")
                } else {
                    format!("!!str `{value}`")
                }
            }
            Kind::Seq(_) => "!!seq".to_owned(),
            Kind::Map(_) => "!!map".to_owned(),
        }
    }

    /// The scalar as text; `!!binary` scalars decoded. `Err` for bad base64.
    fn text(&self) -> Result<Option<Result<String, Vec<u8>>>, Error> {
        match &self.kind {
            Kind::Scalar { value, tag, .. } if is_core(tag, "binary") => {
                let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|_| {
                    let mut e = Error::new("!!binary value contains invalid base64 data");
                    e.kind = ErrorKind::Custom;
                    e
                })?;
                Ok(Some(String::from_utf8(bytes).map_err(|e| e.into_bytes())))
            }
            Kind::Scalar { value, .. } => Ok(Some(Ok(value.clone()))),
            _ => Ok(None),
        }
    }
}

fn parse_bool(n: &Node) -> Option<bool> {
    let v = match &n.kind {
        Kind::Scalar { value, style: ScalarStyle::Plain, tag } if tag.is_none() || is_core(tag, "bool") => value.as_str(),
        _ => return None,
    };
    match v {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_int(v: &str) -> Option<i128> {
    let plain = v.replace('_', "");
    let (neg, digits) = match plain.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, plain.strip_prefix('+').unwrap_or(&plain)),
    };
    if digits.is_empty() {
        return None;
    }
    // A sign after the base prefix is not a number in YAML (or Go).
    if ["0x", "0b", "0o"].iter().any(|p| digits.strip_prefix(p).is_some_and(|rest| rest.starts_with(['+', '-']))) {
        return None;
    }
    let n = if let Some(h) = digits.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = digits.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        i128::from_str_radix(&digits[1..], 8).ok()?
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    if neg { n.checked_neg() } else { Some(n) }
}

fn parse_float(v: &str) -> Option<f64> {
    match v {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let ok = v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_')) && v.bytes().any(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    v.replace('_', "").parse().ok()
}

// ---------------------------------------------------------------------------
// Decoding nodes into serde types.

/// Decodes `node` into `T`.
pub fn from_node<T: de::DeserializeOwned>(node: &Node) -> Result<T, Error> {
    T::deserialize(NodeDe { node, path: String::new(), owner: None, claims: None })
}

/// Parses and decodes `text` into `T`.
pub fn from_str<T: de::DeserializeOwned>(text: &str) -> Result<T, Error> {
    from_node(&parse(text)?)
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    /// For an inlined struct, the type named in its unknown-field errors.
    owner: Option<&'static str>,
    /// For an inlined struct: the set in which it records the keys it took,
    /// leaving the rest to its siblings.
    claims: Option<Claims>,
}

type Claims = Rc<RefCell<HashSet<String>>>;

impl<'a> NodeDe<'a> {
    fn mismatch(&self, expected: &str) -> Error {
        Error::new(format!("cannot unmarshal {} into {expected}", self.node.describe())).at(self.node, &self.path)
    }

    fn scalar_text(&self) -> Result<Option<Result<String, Vec<u8>>>, Error> {
        self.node.text().map_err(|e| e.at(self.node, &self.path))
    }

    fn int(&self, what: &str) -> Result<i128, Error> {
        match &self.node.kind {
            Kind::Scalar { value, tag, .. } if tag.is_none() || is_core(tag, "int") => {
                // Quoted numbers are strings in YAML, but go-yaml accepts a
                // quoted integer for an int field only through its text; keep
                // the strict reading.
                if self.node.plain_scalar().is_some() || is_core(tag, "int") {
                    if let Some(n) = parse_int(value) {
                        return Ok(n);
                    }
                    if let Some(f) = parse_float(value) {
                        if f.fract() == 0.0 && f.is_finite() {
                            return Ok(f as i128);
                        }
                    }
                }
                Err(self.mismatch(what))
            }
            _ => Err(self.mismatch(what)),
        }
    }

    fn child(&self, node: &'a Node, seg: &str) -> NodeDe<'a> {
        let path = if self.path.is_empty() {
            seg.to_owned()
        } else if seg.starts_with('[') {
            format!("{}{seg}", self.path)
        } else {
            format!("{}.{seg}", self.path)
        };
        NodeDe { node, path, owner: None, claims: None }
    }

    fn wrap<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| e.at(self.node, &self.path))
    }
}

macro_rules! de_int {
    ($name:ident, $ty:ty, $visit:ident, $label:literal) => {
        fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if self.node.is_null() {
                return self.wrap(visitor.$visit(0));
            }
            let n = self.int($label)?;
            let v = <$ty>::try_from(n).map_err(|_| self.mismatch($label))?;
            self.wrap(visitor.$visit(v))
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            Kind::Seq(_) => self.deserialize_seq(visitor),
            Kind::Map(_) => self.deserialize_map(visitor),
            Kind::Scalar { .. } => {
                if self.node.is_null() {
                    return self.wrap(visitor.visit_unit());
                }
                if let Some(b) = parse_bool(self.node) {
                    return self.wrap(visitor.visit_bool(b));
                }
                if let Some(v) = self.node.plain_scalar() {
                    if let Some(n) = parse_int(v) {
                        if let Ok(i) = i64::try_from(n) {
                            return self.wrap(visitor.visit_i64(i));
                        }
                    }
                    if let Some(f) = parse_float(v) {
                        return self.wrap(visitor.visit_f64(f));
                    }
                }
                self.deserialize_string(visitor)
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            return self.wrap(visitor.visit_bool(false));
        }
        match parse_bool(self.node) {
            Some(b) => self.wrap(visitor.visit_bool(b)),
            None => Err(self.mismatch("bool")),
        }
    }

    de_int!(deserialize_i8, i8, visit_i8, "int8");
    de_int!(deserialize_i16, i16, visit_i16, "int16");
    de_int!(deserialize_i32, i32, visit_i32, "int32");
    de_int!(deserialize_i64, i64, visit_i64, "int64");
    de_int!(deserialize_u8, u8, visit_u8, "uint8");
    de_int!(deserialize_u16, u16, visit_u16, "uint16");
    de_int!(deserialize_u32, u32, visit_u32, "uint32");
    de_int!(deserialize_u64, u64, visit_u64, "uint64");

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            return self.wrap(visitor.visit_f64(0.0));
        }
        let f = match &self.node.kind {
            Kind::Scalar { value, style: ScalarStyle::Plain, tag } if tag.is_none() || is_core(tag, "float") || is_core(tag, "int") => {
                parse_float(value).or_else(|| parse_int(value).map(|n| n as f64))
            }
            _ => None,
        };
        match f {
            Some(f) => self.wrap(visitor.visit_f64(f)),
            None => Err(self.mismatch("float64")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            return self.wrap(visitor.visit_string(String::new()));
        }
        match self.scalar_text()? {
            Some(Ok(s)) => self.wrap(visitor.visit_string(s)),
            Some(Err(bytes)) => self.wrap(visitor.visit_byte_buf(bytes)),
            None => Err(self.mismatch("string")),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.scalar_text()? {
            Some(Ok(s)) => self.wrap(visitor.visit_byte_buf(s.into_bytes())),
            Some(Err(bytes)) => self.wrap(visitor.visit_byte_buf(bytes)),
            None => Err(self.mismatch("[]byte")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() { self.wrap(visitor.visit_none()) } else { visitor.visit_some(self) }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.wrap(visitor.visit_unit())
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        static EMPTY: Vec<Node> = Vec::new();
        let items = match &self.node.kind {
            Kind::Seq(items) => items,
            _ if self.node.is_null() => &EMPTY,
            _ => return Err(self.mismatch("a sequence")),
        };
        let r = visitor.visit_seq(SeqAccess { parent: &self, items: items.iter().enumerate() });
        self.wrap(r)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _name: &'static str, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entries = self.entries()?;
        check_duplicates(&entries, None).map_err(|e| e.at(self.node, &self.path))?;
        let r = visitor.visit_map(MapAccess { parent: &self, entries: entries.into_iter(), value: None, struct_name: None, inline: None });
        self.wrap(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        let type_name = self.owner.unwrap_or(name);
        let entries = self.entries()?;
        check_duplicates(&entries, Some(type_name)).map_err(|e| e.at(self.node, &self.path))?;
        let inline_fields: Vec<&'static str> = fields.iter().copied().filter(|f| f.starts_with(INLINE)).collect();
        let (own, rest): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| key_text(k).is_some_and(|k| fields.contains(&k) && !k.starts_with(INLINE)));
        if let Some(claims) = &self.claims {
            claims.borrow_mut().extend(own.iter().filter_map(|(k, _)| key_text(k).map(str::to_owned)));
        }
        let (entries, inline) = match (inline_fields.is_empty(), &self.claims) {
            // A plain struct: unknown keys reach serde, which rejects them.
            (true, None) => (own.into_iter().chain(rest).collect(), None),
            // An inlined struct leaves the keys it does not know to others.
            (true, Some(_)) => (own, None),
            (false, claims) => {
                let synthetic =
                    Node { kind: Kind::Map(rest.iter().map(|(k, v)| ((*k).clone(), (*v).clone())).collect()), line: self.node.line, col: self.node.col };
                let root = claims.is_none();
                let claims = claims.clone().unwrap_or_default();
                let leftovers: Vec<&Node> = if root { rest.iter().map(|(k, _)| *k).collect() } else { Vec::new() };
                (own, Some(Inline { fields: inline_fields, node: synthetic, claims, leftovers }))
            }
        };
        let r = visitor.visit_map(MapAccess { parent: &self, entries: entries.into_iter(), value: None, struct_name: Some(type_name), inline });
        self.wrap(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _name: &'static str, _variants: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            Kind::Scalar { value, .. } => {
                let r = visitor.visit_enum(value.clone().into_deserializer());
                self.wrap(r)
            }
            _ => Err(self.mismatch("an enum")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.wrap(visitor.visit_unit())
    }
}

fn key_text(k: &Node) -> Option<&str> {
    match &k.kind {
        Kind::Scalar { value, .. } => Some(value),
        _ => None,
    }
}

impl<'a> NodeDe<'a> {
    /// The mapping's entries with `<<` merge keys expanded; a null node is
    /// an empty mapping.
    fn entries(&self) -> Result<Vec<(&'a Node, &'a Node)>, Error> {
        match &self.node.kind {
            Kind::Map(items) => {
                let mut own = Vec::with_capacity(items.len());
                let mut merged = Vec::new();
                for (k, v) in items {
                    if k.plain_scalar() == Some("<<") {
                        let sources: Vec<&Node> = match &v.kind {
                            Kind::Map(_) => vec![v],
                            Kind::Seq(s) => s.iter().collect(),
                            _ => return Err(Error::new("map merge requires map or sequence of maps as the value").at(v, &self.path)),
                        };
                        for src in sources {
                            let sub = NodeDe { node: src, path: self.path.clone(), owner: None, claims: None };
                            merged.extend(sub.entries()?);
                        }
                    } else {
                        own.push((k, v));
                    }
                }
                // Explicit keys win over merged ones.
                for (k, v) in merged {
                    if !own.iter().any(|(ok, _)| key_text(ok) == key_text(k)) {
                        own.push((k, v));
                    }
                }
                Ok(own)
            }
            _ if self.node.is_null() => Ok(Vec::new()),
            _ => Err(self.mismatch("a mapping")),
        }
    }
}

fn check_duplicates(entries: &[(&Node, &Node)], type_name: Option<&str>) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in entries {
        if let Some(t) = key_text(k) {
            if !seen.insert(t) {
                let msg = match type_name {
                    Some(ty) => format!("field {t} already set in type {ty}"),
                    None => format!("key {t:?} already set in map"),
                };
                let mut e = Error::new(msg);
                e.line = Some(k.line);
                return Err(e);
            }
        }
    }
    Ok(())
}

struct SeqAccess<'p, 'a> {
    parent: &'p NodeDe<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let child = self.parent.child(node, &format!("[{i}]"));
                let path = child.path.clone();
                seed.deserialize(child).map(Some).map_err(|e| e.at(node, &path))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'p, 'a> {
    parent: &'p NodeDe<'a>,
    entries: std::vec::IntoIter<(&'a Node, &'a Node)>,
    value: Option<(&'a Node, String)>,
    struct_name: Option<&'static str>,
    inline: Option<Inline<'a>>,
}

/// The inlined fields of a struct still to be handed out, the map of keys
/// left for them, and (for the outermost struct) the keys to account for.
struct Inline<'a> {
    fields: Vec<&'static str>,
    node: Node,
    claims: Claims,
    leftovers: Vec<&'a Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((k, v)) = self.entries.next() else {
            let Some(inline) = &mut self.inline else { return Ok(None) };
            if let Some(field) = inline.fields.first().copied() {
                // An inline field's key; its value is handed out next.
                return seed.deserialize(field.into_deserializer()).map(Some);
            }
            let claims = inline.claims.borrow();
            if let Some(k) = inline.leftovers.iter().find(|k| key_text(k).is_none_or(|t| !claims.contains(t))) {
                let field = key_text(k).unwrap_or("?");
                let ty = self.struct_name.unwrap_or("struct");
                let mut e = Error::new(format!("field {field} not found in type {ty}"));
                e.line = Some(k.line);
                e.path = self.parent.child(k, field).path;
                return Err(e);
            }
            return Ok(None);
        };
        let seg = key_text(k).unwrap_or("?").to_owned();
        let key_de = self.parent.child(k, &seg);
        let path = key_de.path.clone();
        match seed.deserialize(key_de) {
            Ok(key) => {
                self.value = Some((v, path));
                Ok(Some(key))
            }
            Err(mut e) => {
                if let (Some(field), Some(ty)) = (e.unknown_field.take(), self.struct_name) {
                    e.msg = format!("field {field} not found in type {ty}");
                }
                Err(e.at(k, &path))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        if let Some((node, path)) = self.value.take() {
            let de = NodeDe { node, path: path.clone(), owner: None, claims: None };
            return seed.deserialize(de).map_err(|e| e.at(node, &path));
        }
        match &mut self.inline {
            Some(inline) if !inline.fields.is_empty() => {
                inline.fields.remove(0);
                let owner = self.parent.owner.or(self.struct_name);
                let de = NodeDe { node: &inline.node, path: self.parent.path.clone(), owner, claims: Some(inline.claims.clone()) };
                seed.deserialize(de)
            }
            _ => Err(Error::new("value requested before key")),
        }
    }
}

// ---------------------------------------------------------------------------
// Encoding serde types as YAML, for showing the loaded config.

/// A value tree built by [`to_string`] before it is written out.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    Map(Vec<(String, Value)>),
}

/// Writes `value` as block-style YAML. Null, empty and `$inline` handling
/// follow go-yaml's `omitempty`/`inline` output: empty fields are left out.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let v = value.serialize(ValueSer)?;
    let mut out = String::new();
    match &v {
        Value::Map(entries) if entries.is_empty() => out.push_str("{}\n"),
        Value::Map(entries) => write_map(&mut out, entries, 0),
        Value::Seq(items) => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar_text(other));
            out.push('\n');
        }
    }
    Ok(out)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Seq(s) => s.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Str(s) => s.is_empty(),
        _ => false,
    }
}

fn write_map(out: &mut String, entries: &[(String, Value)], indent: usize) {
    for (k, v) in entries {
        if is_empty(v) {
            continue;
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote_if_needed(k));
        out.push(':');
        match v {
            Value::Map(m) => {
                out.push('\n');
                write_map(out, m, indent + 2);
            }
            Value::Seq(s) => {
                out.push('\n');
                write_seq(out, s, indent);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar_text(other));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Map(m) if !m.is_empty() => {
                let mut nested = String::new();
                write_map(&mut nested, m, indent + 2);
                // The first entry shares the dash's line.
                let trimmed = nested.trim_start_matches(' ');
                out.push_str(trimmed);
                if trimmed.is_empty() {
                    out.push_str("{}\n");
                }
            }
            Value::Map(_) => out.push_str("{}\n"),
            Value::Seq(s) if !s.is_empty() => {
                out.push('\n');
                write_seq(out, s, indent + 2);
            }
            Value::Seq(_) => out.push_str("[]\n"),
            other => {
                out.push_str(&scalar_text(other));
                out.push('\n');
            }
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".to_owned(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.to_owned(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => quote_if_needed(s),
        Value::Seq(_) | Value::Map(_) => String::new(),
    }
}

/// Quotes a string when a plain scalar would read back as something else.
fn quote_if_needed(s: &str) -> String {
    let probe = Node { kind: Kind::Scalar { value: s.to_owned(), style: ScalarStyle::Plain, tag: None }, line: 0, col: 0 };
    let ambiguous = probe.is_null() || parse_bool(&probe).is_some() || parse_int(s).is_some() || parse_float(s).is_some();
    let special = s.is_empty()
        || s.starts_with(|c: char| " -?:,[]{}#&*!|>'\"%@`".contains(c))
        || s.ends_with(' ')
        || s.ends_with(':')
        || s == "<<"
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control());
    if ambiguous || special {
        let mut q = String::with_capacity(s.len() + 2);
        q.push('"');
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                '\r' => q.push_str("\\r"),
                c if c.is_control() => q.push_str(&format!("\\u{:04x}", c as u32)),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    } else {
        s.to_owned()
    }
}

struct ValueSer;

struct SeqSer(Vec<Value>);
struct MapSer {
    entries: Vec<(String, Value)>,
    key: Option<String>,
}

fn push_field(entries: &mut Vec<(String, Value)>, key: &str, value: Value) {
    if key.starts_with(INLINE) {
        if let Value::Map(inner) = value {
            entries.extend(inner);
        }
    } else {
        entries.push((key.to_owned(), value));
    }
}

impl ser::Serializer for ValueSer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = SeqSer;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = MapSer;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<Value, Error> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _name: &'static str, _index: u32, variant: &'static str, value: &T) -> Result<Value, Error> {
        Ok(Value::Map(vec![(variant.to_owned(), value.serialize(ValueSer)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, Error> {
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _name: &'static str, _index: u32, _variant: &'static str, len: usize) -> Result<SeqSer, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer, Error> {
        Ok(MapSer { entries: Vec::new(), key: None })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapSer, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(self, _name: &'static str, _index: u32, _variant: &'static str, _len: usize) -> Result<MapSer, Error> {
        self.serialize_map(None)
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(value.serialize(ValueSer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Seq(self.0))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for SeqSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(match key.serialize(ValueSer)? {
            Value::Str(s) => s,
            other => scalar_text(&other),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| Error::new("map value without key"))?;
        let v = value.serialize(ValueSer)?;
        push_field(&mut self.entries, &key, v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(self.entries))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        let v = value.serialize(ValueSer)?;
        push_field(&mut self.entries, key, v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(self.entries))
    }
}

impl ser::SerializeStructVariant for MapSer {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(self.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(rename = "test.Inner", deny_unknown_fields, default)]
    struct Inner {
        user: String,
        secret: Option<String>,
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(rename = "test.plain", deny_unknown_fields, default)]
    struct Outer {
        name: String,
        count: u32,
        on: bool,
        items: Vec<String>,
        #[serde(rename = "$inline")]
        inner: Inner,
    }

    /// Found by the rulefmt fuzz target: a multi-byte character right
    /// after a leading `0` must not be sliced through.
    #[test]
    fn integers_with_prefixes_and_odd_characters() {
        assert_eq!(parse_int("0\u{510}"), None);
        assert_eq!(parse_int("0x+1"), None);
        assert_eq!((parse_int("0x1f"), parse_int("-0o17"), parse_int("010")), (Some(31), Some(-15), Some(8)));
    }

    #[test]
    fn decodes_with_inline_fields() {
        let o: Outer = from_str("name: x\ncount: 3\non: yes\nitems: [a, 1, true]\nuser: me\n").unwrap();
        assert_eq!(o.name, "x");
        assert_eq!(o.count, 3);
        assert!(o.on);
        assert_eq!(o.items, vec!["a", "1", "true"]);
        assert_eq!(o.inner.user, "me");
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename = "test.Other", deny_unknown_fields, default)]
    struct Other {
        extra: u32,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename = "test.two", deny_unknown_fields, default)]
    struct Two {
        name: String,
        #[serde(rename = "$inline")]
        inner: Inner,
        #[serde(rename = "$inline_other")]
        other: Other,
    }

    #[test]
    fn two_inlined_structs_share_the_keys() {
        let t: Two = from_str("name: n\nuser: u\nextra: 4\n").unwrap();
        assert_eq!((t.name.as_str(), t.inner.user.as_str(), t.other.extra), ("n", "u", 4));
        let e = from_str::<Two>("name: n\nuser: u\nnope: 4\n").unwrap_err();
        assert_eq!(e.to_string(), "yaml: unmarshal errors:\n  line 3: field nope not found in type test.two (at nope)");
        let e = from_str::<Outer>("bogus: 1\n").unwrap_err();
        assert_eq!(e.to_string(), "yaml: unmarshal errors:\n  line 1: field bogus not found in type test.plain (at bogus)");
    }

    #[test]
    fn unknown_fields_name_the_outer_type_and_line() {
        let e = from_str::<Outer>("name: x\nbogus: 1\n").unwrap_err();
        assert_eq!(e.to_string(), "yaml: unmarshal errors:\n  line 2: field bogus not found in type test.plain (at bogus)");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = from_str::<Outer>("name: x\nname: y\n").unwrap_err();
        assert!(e.to_string().contains("field name already set in type test.plain"), "{e}");
        let e = from_str::<HashMap<String, String>>("a: 1\na: 2\n").unwrap_err();
        assert!(e.to_string().contains(r#"key "a" already set in map"#), "{e}");
    }

    #[test]
    fn type_errors_use_go_wording() {
        let e = from_str::<Outer>("count: abc\n").unwrap_err();
        assert_eq!(e.to_string(), "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `abc` into uint32 (at count)");
    }

    #[test]
    fn null_sections_take_defaults() {
        let o: Outer = from_str("name:\nitems:\n").unwrap();
        assert_eq!(o, Outer::default());
        let o: Outer = from_str("").unwrap();
        assert_eq!(o, Outer::default());
    }

    #[test]
    fn binary_and_merge_keys() {
        let v: HashMap<String, String> = from_str("a: !!binary aGk=\n").unwrap();
        assert_eq!(v["a"], "hi");
        let e = from_str::<HashMap<String, String>>("a: !!binary \"/w==$1\"\n").unwrap_err();
        assert!(e.to_string().contains("!!binary value contains invalid base64 data"), "{e}");
        let o: Outer = from_str("base: &b {user: u, count: 2}\n").map(|_: HashMap<String, HashMap<String, String>>| Outer::default()).unwrap();
        assert_eq!(o, Outer::default());
        let m: HashMap<String, HashMap<String, String>> = from_str("a: &b {x: '1'}\nc:\n  <<: *b\n  y: '2'\n").unwrap();
        assert_eq!(m["c"]["x"], "1");
        assert_eq!(m["c"]["y"], "2");
    }

    #[test]
    fn hostile_documents_fail_cleanly() {
        assert!(parse(&"- ".repeat(10_000)).unwrap_err().to_string().contains("exceeded max depth"));
        assert!(parse_int("-0x-80000000000000000000000000000000").is_none());
        assert!(parse_int("0x-5").is_none());
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(quote_if_needed("a:"), "\"a:\"");
        let big = "x".repeat(1 << 20);
        let mut doc = format!("a: &a {big}\nb: [");
        doc.push_str(&"*a, ".repeat(100));
        doc.push_str("*a]\n");
        assert!(parse(&doc).unwrap_err().to_string().contains("excessive aliasing"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            doc.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        assert!(parse(&doc).unwrap_err().to_string().contains("excessive aliasing"));
    }

    #[test]
    fn encodes_block_yaml_with_inline_flattened() {
        let o = Outer { name: "x".into(), count: 2, on: true, items: vec!["a".into(), "true".into()], inner: Inner { user: "u".into(), secret: None } };
        let text = to_string(&o).unwrap();
        // `on` is a YAML 1.1 boolean, so as a key it must be quoted to read back.
        assert_eq!(text, "name: x\ncount: 2\n\"on\": true\nitems:\n- a\n- \"true\"\nuser: u\n");
        let back: Outer = from_str(&text).unwrap();
        assert_eq!(back, o);
    }
}
