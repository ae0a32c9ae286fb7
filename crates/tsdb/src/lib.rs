//! The time-series database, in Prometheus's on-disk formats: chunk
//! encodings, the in-memory head block with its label index, the
//! write-ahead log that makes appends durable, persistent blocks, and the
//! in-memory exemplar ring.
//!
//! This crate is the only implementation of the `storage` traits. It must
//! not know about scraping, PromQL or HTTP: it stores what appenders give it
//! and answers queriers.

pub mod block;
mod chunk_iter;
pub mod chunkenc;
pub mod chunks_head;
pub mod db;
pub mod encoding;
pub mod exemplar;
pub mod head;
mod label_sets;
pub mod record;
pub mod wal;
