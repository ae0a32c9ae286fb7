//! Namespaces, watched only for `attach_metadata.namespace`: their labels
//! and annotations go onto the groups of the objects in them.

use serde::Deserialize;

use super::{Cache, Kind, LabelMap, ObjectMeta, Resource, Store, meta_labels};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Namespace {
    metadata: ObjectMeta,
}

impl Resource for Namespace {
    const ROLE: &'static str = "namespace";
    const PATH: &'static str = "api/v1";
    const PLURAL: &'static str = "namespaces";
    const KIND: Kind = Kind::Namespace;

    super::stored_in!(namespaces);
}

/// The labels and annotations of the namespace `name`, when it is known
/// (always absent without `attach_metadata.namespace`).
pub(crate) fn namespace_labels(l: &mut LabelMap, cache: &Cache, name: &str) {
    if let Some(ns) = cache.namespaces.get(&(String::new(), name.to_owned())) {
        meta_labels(l, &ns.metadata, "namespace");
    }
}
