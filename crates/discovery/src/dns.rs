//! `dns_sd_configs`: targets from SRV (the default), A, AAAA, MX or NS
//! records, looked up at start and every `refresh_interval`.
//!
//! Each name is one group (source: the name) whose targets carry
//! `__meta_dns_name` and, for SRV, MX and NS records, the record's target
//! as received (`__meta_dns_srv_record_target`, `__meta_dns_srv_record_port`,
//! `__meta_dns_mx_record_target`, `__meta_dns_ns_record_target`); the
//! address is that target without its final dot, with the SRV port or the
//! configured one.
//!
//! Lookups follow Prometheus rather than a caching stub resolver, since
//! which answers count decides when targets go: the nameservers, `search`
//! list and `ndots` of `/etc/resolv.conf` are read at every lookup, the
//! candidate names are tried in turn and each against every server until
//! one answers NOERROR or NXDOMAIN (a truncated UDP answer is asked again
//! over TCP). The first NOERROR answer gives the targets; NXDOMAIN for every
//! candidate means none. Anything else is a failed lookup: the name's group
//! is not sent, so its last good targets stay, and
//! `prometheus_sd_dns_lookup_failures_total` counts it.
//!
//! Messages are encoded and decoded with hickory's protocol crate; the
//! exchange itself is a plain socket, as Prometheus's `miekg/dns` client.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use config::sd::DnsSdConfig;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use model::Labels;
use model::quote::go_quote;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::Group;
use crate::metrics::SdMetrics;
use crate::provider::{BuildError, Env};
use crate::targetgroup::join_host_port;

const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Go's `miekg/dns` client waits this long to connect and again to read.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);
/// The EDNS0 UDP payload size asked for (`dns.DefaultMsgSize`).
const UDP_PAYLOAD: u16 = 4096;

const NAME_LABEL: &str = "__meta_dns_name";
const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("could not load resolv.conf: {0}")]
    ResolvConf(String),
    #[error("could not resolve {}: all servers responded with errors to at least one search domain", go_quote(.0.as_bytes()))]
    Unresolved(String),
    /// One candidate name got no NOERROR or NXDOMAIN answer from any server.
    #[error("could not resolve {0}: no servers returned a viable answer")]
    NoViableAnswer(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("i/o timeout")]
    Timeout,
    #[error("{0}")]
    Proto(#[from] hickory_proto::ProtoError),
    #[error("got truncated message on TCP (64kiB limit exceeded?)")]
    TruncatedOnTcp,
    #[error("invalid name {0:?}")]
    Name(String),
}

/// Where the nameservers come from.
#[derive(Debug, Clone)]
enum Servers {
    /// `/etc/resolv.conf` (a path, so that tests can use another file).
    ResolvConf(PathBuf),
    /// `NARTHEX_DNS_NAMESERVER`: this server alone, no search list, as if
    /// resolv.conf said only `nameserver`.
    Fixed(SocketAddr),
}

#[derive(Debug)]
pub(crate) struct DnsDiscovery {
    names: Vec<String>,
    interval: Duration,
    lookup: Arc<Lookup>,
}

/// What one refresh needs, shared by the lookups of all names.
#[derive(Debug)]
struct Lookup {
    qtype: RecordType,
    port: i64,
    servers: Servers,
    timeout: Duration,
    metrics: SdMetrics,
}

/// The parts of resolv.conf Prometheus uses.
#[derive(Debug, Clone, PartialEq)]
struct ResolvConf {
    /// `host:port` strings, resolved when used, as Go dials them.
    servers: Vec<String>,
    search: Vec<String>,
    ndots: usize,
}

impl DnsDiscovery {
    pub(crate) fn new(cfg: &DnsSdConfig, env: &Env) -> Result<DnsDiscovery, BuildError> {
        let qtype = match cfg.record_type().as_str() {
            "SRV" => RecordType::SRV,
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "MX" => RecordType::MX,
            "NS" => RecordType::NS,
            other => return Err(BuildError::Config(format!("invalid DNS-SD records type {other}"))),
        };
        let servers = match env.dns_nameserver {
            Some(addr) => Servers::Fixed(addr),
            None => Servers::ResolvConf(PathBuf::from(RESOLV_CONF)),
        };
        Ok(DnsDiscovery {
            names: cfg.names.clone(),
            interval: cfg.refresh_interval.as_std().max(Duration::from_millis(1)),
            lookup: Arc::new(Lookup { qtype, port: cfg.port, servers, timeout: EXCHANGE_TIMEOUT, metrics: env.metrics.clone() }),
        })
    }

    pub(crate) async fn run(self, tx: mpsc::Sender<Vec<Group>>) {
        // Like Prometheus's refresh loop: at once, then on a ticker that
        // drops ticks a slow refresh missed.
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            if tx.send(self.refresh().await).await.is_err() {
                return;
            }
        }
    }

    /// Looks every name up at once; a name whose lookup failed has no group
    /// in the result, which keeps its last good one.
    async fn refresh(&self) -> Vec<Group> {
        let mut set = JoinSet::new();
        for (i, name) in self.names.iter().enumerate() {
            let lookup = self.lookup.clone();
            let name = name.clone();
            set.spawn(async move { (i, lookup.group(&name).await) });
        }
        let mut groups: Vec<(usize, Group)> = Vec::with_capacity(self.names.len());
        while let Some(done) = set.join_next().await {
            match done {
                Ok((i, Some(g))) => groups.push((i, g)),
                Ok((_, None)) => {}
                Err(e) => tracing::error!(component = "discovery manager", discovery = "dns", err = %e, "Error refreshing DNS targets"),
            }
        }
        groups.sort_by_key(|(i, _)| *i);
        groups.into_iter().map(|(_, g)| g).collect()
    }
}

impl Lookup {
    /// One name's group, or `None` when its lookup failed (logged, counted).
    async fn group(&self, name: &str) -> Option<Group> {
        let answer = self.lookup_with_search_path(name).await;
        self.metrics.dns_lookups.inc();
        let records = match answer {
            Ok(r) => r,
            Err(e) => {
                self.metrics.dns_lookup_failures.inc();
                tracing::error!(component = "discovery manager", discovery = "dns", err = %e, "Error refreshing DNS targets");
                return None;
            }
        };
        let targets = records.iter().filter_map(|rdata| self.target(name, rdata)).collect();
        Some(Group { targets, labels: Labels::default(), source: name.to_owned() })
    }

    /// A record's target labels; `None` for records that are no target.
    fn target(&self, name: &str, rdata: &RData) -> Option<Labels> {
        let port = self.port;
        let (address, extra) = match rdata {
            RData::SRV(srv) => {
                let target = srv.target().to_string();
                let address = join_host_port(target.trim_end_matches('.'), srv.port());
                (address, vec![(SRV_TARGET_LABEL, target), (SRV_PORT_LABEL, srv.port().to_string())])
            }
            RData::MX(mx) => {
                let target = mx.exchange().to_string();
                (join_host_port(target.trim_end_matches('.'), port), vec![(MX_TARGET_LABEL, target)])
            }
            RData::NS(ns) => {
                let target = ns.0.to_string();
                (join_host_port(target.trim_end_matches('.'), port), vec![(NS_TARGET_LABEL, target)])
            }
            RData::A(a) => (join_host_port(&a.0.to_string(), port), Vec::new()),
            RData::AAAA(aaaa) => (join_host_port(&go_ip_text(IpAddr::V6(aaaa.0)), port), Vec::new()),
            // An A lookup of an alias answers the alias too.
            RData::CNAME(_) => return None,
            other => {
                tracing::warn!(component = "discovery manager", discovery = "dns", record = %other, "Invalid record");
                return None;
            }
        };
        let mut pairs = vec![("__address__", address), (NAME_LABEL, name.to_owned())];
        pairs.extend(extra);
        Some(Labels::from_pairs(pairs))
    }

    /// The answer records for the first candidate name that exists; none
    /// when every candidate is NXDOMAIN; an error when some candidate got
    /// no usable answer and none exists, since its records might.
    async fn lookup_with_search_path(&self, name: &str) -> Result<Vec<RData>, DnsError> {
        let conf = match &self.servers {
            Servers::ResolvConf(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| DnsError::ResolvConf(format!("open {}: {}", path.display(), io_text(&e))))?;
                ResolvConf::parse(&text)
            }
            Servers::Fixed(addr) => ResolvConf { servers: vec![addr.to_string()], search: Vec::new(), ndots: 1 },
        };
        let mut all_viable = true;
        for candidate in conf.name_list(name) {
            match self.lookup_from_any_server(&candidate, &conf.servers).await {
                Ok(msg) if msg.response_code() == ResponseCode::NoError => {
                    return Ok(msg.answers().iter().map(|r| r.data().clone()).collect());
                }
                Ok(_) => {}
                Err(_) => all_viable = false,
            }
        }
        if all_viable { Ok(Vec::new()) } else { Err(DnsError::Unresolved(name.to_owned())) }
    }

    /// The first NOERROR or NXDOMAIN answer any server gives, in order.
    async fn lookup_from_any_server(&self, name: &str, servers: &[String]) -> Result<Message, DnsError> {
        for server in servers {
            match self.ask(name, server).await {
                Ok(msg) if matches!(msg.response_code(), ResponseCode::NoError | ResponseCode::NXDomain) => return Ok(msg),
                Ok(_) => {}
                Err(e) => tracing::warn!(component = "discovery manager", discovery = "dns", server = %server, name, err = %e, "DNS resolution failed"),
            }
        }
        Err(DnsError::NoViableAnswer(name.to_owned()))
    }

    /// One question to one server: over UDP with EDNS0, again over TCP
    /// without it when the answer was truncated.
    async fn ask(&self, name: &str, server: &str) -> Result<Message, DnsError> {
        let addr = tokio::time::timeout(self.timeout, tokio::net::lookup_host(server))
            .await
            .map_err(|_| DnsError::Timeout)??
            .next()
            .ok_or_else(|| DnsError::Io(std::io::Error::other(format!("no address for {server}"))))?;
        let qname = Name::from_ascii(fqdn(name)).map_err(|_| DnsError::Name(name.to_owned()))?;
        let query = query_message(qname.clone(), self.qtype, true);
        let resp = self.exchange_udp(&query, addr).await?;
        if !resp.truncated() {
            return Ok(resp);
        }
        let query = query_message(qname, self.qtype, false);
        let resp = self.exchange_tcp(&query, addr).await?;
        if resp.truncated() {
            return Err(DnsError::TruncatedOnTcp);
        }
        Ok(resp)
    }

    async fn exchange_udp(&self, query: &Message, addr: SocketAddr) -> Result<Message, DnsError> {
        let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let sock = UdpSocket::bind(local).await?;
        sock.connect(addr).await?;
        sock.send(&query.to_vec()?).await?;
        let mut buf = vec![0u8; 65535];
        let read = async {
            loop {
                let n = sock.recv(&mut buf).await?;
                // Answers to earlier, timed-out questions are not ours.
                match Message::from_vec(&buf[..n]) {
                    Ok(m) if m.id() == query.id() && m.message_type() == MessageType::Response => return Ok::<_, DnsError>(m),
                    Ok(_) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        tokio::time::timeout(self.timeout, read).await.map_err(|_| DnsError::Timeout)?
    }

    async fn exchange_tcp(&self, query: &Message, addr: SocketAddr) -> Result<Message, DnsError> {
        let mut stream = tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await.map_err(|_| DnsError::Timeout)??;
        let bytes = query.to_vec()?;
        let len = u16::try_from(bytes.len()).map_err(|_| DnsError::Io(std::io::Error::other("query too long")))?;
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&bytes);
        let exchange = async {
            stream.write_all(&framed).await?;
            loop {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await?;
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut buf).await?;
                let m = Message::from_vec(&buf)?;
                if m.id() == query.id() {
                    return Ok::<_, DnsError>(m);
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| DnsError::Timeout)?
    }
}

/// A recursive query for `name`, with EDNS0 on UDP as `miekg/dns` asks.
fn query_message(name: Name, qtype: RecordType, edns: bool) -> Message {
    let mut m = Message::new();
    m.set_id(random_id());
    m.set_message_type(MessageType::Query);
    m.set_op_code(OpCode::Query);
    m.set_recursion_desired(true);
    m.add_query(Query::query(name, qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(UDP_PAYLOAD);
        m.set_edns(e);
    }
    m
}

/// A fresh, unpredictable message id (std's hasher is randomly keyed per
/// process; the counter varies it per query), so that a stray packet is
/// unlikely to pass for the answer.
fn random_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    (h.finish() & 0xffff) as u16
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_owned() } else { format!("{name}.") }
}

/// Go's `net.IP.String`: an IPv4-mapped IPv6 address prints as IPv4.
fn go_ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// An I/O error without Rust's ` (os error N)` suffix, as Go prints it.
fn io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

impl ResolvConf {
    /// Reads resolv.conf as `miekg/dns` does: `nameserver` lines in order
    /// (port 53), the last `search` or `domain` line, `options ndots:N`
    /// (0 to 15, 1 by default); everything else is ignored.
    fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf { servers: Vec::new(), search: Vec::new(), ndots: 1 };
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["nameserver", server, ..] => conf.servers.push(join_host_port(server, 53)),
                ["domain", domain, ..] => conf.search = vec![(*domain).to_owned()],
                ["domain"] => conf.search.clear(),
                ["search", domains @ ..] => conf.search = domains.iter().map(|d| (*d).to_owned()).collect(),
                ["options", opts @ ..] => {
                    for o in opts {
                        if let Some(n) = o.strip_prefix("ndots:") {
                            // Go's Atoi gives 0 for what it cannot read.
                            conf.ndots = n.parse::<i64>().unwrap_or(0).clamp(0, 15) as usize;
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// The candidate names to ask, fully qualified: a name ending in a dot
    /// as it is; otherwise with each search domain appended, and alone
    /// first when it has more labels than `ndots`, else last.
    fn name_list(&self, name: &str) -> Vec<String> {
        if name.ends_with('.') {
            return vec![name.to_owned()];
        }
        let labels = name.split('.').filter(|l| !l.is_empty()).count();
        let has_ndots = labels > self.ndots;
        let name = fqdn(name);
        let mut out = Vec::with_capacity(self.search.len() + 1);
        if has_ndots {
            out.push(name.clone());
        }
        out.extend(self.search.iter().map(|s| fqdn(&format!("{name}{s}"))));
        if !has_ndots {
            out.push(name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SRV, TXT};

    /// What the test server answers: records per (lower-cased name, type),
    /// NXDOMAIN for the rest, SERVFAIL for everything while `fail`, and a
    /// truncated UDP answer (the full one over TCP) while `truncate`.
    #[derive(Default)]
    struct Zone {
        records: HashMap<(String, RecordType), Vec<RData>>,
        fail: bool,
        truncate: bool,
        /// (name, type, over TCP) of every question.
        asked: Vec<(String, RecordType, bool)>,
    }

    type Shared = Arc<Mutex<Zone>>;

    fn answer(zone: &Shared, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let q = Message::from_vec(bytes).ok()?;
        let query = q.queries().first()?.clone();
        let name = query.name().to_string().to_ascii_lowercase();
        let mut z = zone.lock().unwrap();
        z.asked.push((name.clone(), query.query_type(), tcp));
        let mut r = Message::new();
        r.set_id(q.id());
        r.set_message_type(MessageType::Response);
        r.set_op_code(OpCode::Query);
        r.set_recursion_desired(true);
        r.set_recursion_available(true);
        r.add_query(query.clone());
        if z.fail {
            r.set_response_code(ResponseCode::ServFail);
        } else if z.truncate && !tcp {
            r.set_truncated(true);
        } else if let Some(records) = z.records.get(&(name, query.query_type())) {
            for rd in records {
                r.add_answer(Record::from_rdata(query.name().clone(), 60, rd.clone()));
            }
        } else {
            r.set_response_code(ResponseCode::NXDomain);
        }
        r.to_vec().ok()
    }

    /// A DNS server on loopback, UDP and TCP on one port.
    async fn server(zone: Shared) -> SocketAddr {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        let z = zone.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                if let Some(out) = answer(&z, &buf[..n], false) {
                    let _ = udp.send_to(&out, peer).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let z = zone.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    if let Some(out) = answer(&z, &buf, true) {
                        let mut framed = u16::try_from(out.len()).unwrap().to_be_bytes().to_vec();
                        framed.extend(out);
                        let _ = s.write_all(&framed).await;
                    }
                });
            }
        });
        addr
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn srv(port: u16, target: &str) -> RData {
        RData::SRV(SRV::new(10, 5, port, name(target)))
    }

    fn discovery(kind: &str, names: &[&str], port: i64, server: SocketAddr, metrics: &SdMetrics) -> DnsDiscovery {
        let cfg = DnsSdConfig {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            refresh_interval: config::Duration::from_millis(100),
            kind: kind.into(),
            port,
        };
        let env = Env { metrics: metrics.clone(), user_agent: String::new(), dns_nameserver: Some(server) };
        DnsDiscovery::new(&cfg, &env).unwrap()
    }

    async fn zone_server(records: Vec<(&str, RecordType, Vec<RData>)>) -> (Shared, SocketAddr) {
        let zone: Shared = Arc::default();
        zone.lock().unwrap().records = records.into_iter().map(|(n, t, r)| ((n.to_owned(), t), r)).collect();
        let addr = server(zone.clone()).await;
        (zone, addr)
    }

    const SRV_NAME: &str = "_node._tcp.example.test";

    async fn next(rx: &mut mpsc::Receiver<Vec<Group>>) -> Vec<Group> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap()
    }

    /// Every target of a refresh's first group, as text.
    fn texts(groups: &[Group]) -> Vec<String> {
        groups[0].targets.iter().map(|t| t.to_string()).collect()
    }

    #[tokio::test]
    async fn srv_targets_appear_change_disappear_and_failures_keep_the_last_good_ones() {
        let (zone, addr) =
            zone_server(vec![("_node._tcp.example.test.", RecordType::SRV, vec![srv(9100, "host1.example.test."), srv(9200, "host2.example.test.")])]).await;
        let metrics = SdMetrics::default();
        let (tx, mut rx) = mpsc::channel(1);
        let task = tokio::spawn(discovery("srv", &[SRV_NAME, "other.example.test"], 0, addr, &metrics).run(tx));
        let first = next(&mut rx).await;
        assert_eq!(first.len(), 2);
        let g = &first[0];
        assert_eq!((g.source.as_str(), g.labels.is_empty()), (SRV_NAME, true));
        assert_eq!(
            g.targets[0].to_string(),
            r#"{__address__="host1.example.test:9100", __meta_dns_name="_node._tcp.example.test", __meta_dns_srv_record_port="9100", __meta_dns_srv_record_target="host1.example.test."}"#
        );
        assert_eq!(g.targets[1].get("__address__"), "host2.example.test:9200");
        // NXDOMAIN: a group without targets, so that any old ones go.
        assert_eq!((first[1].source.as_str(), first[1].targets.len()), ("other.example.test", 0));

        zone.lock().unwrap().records.insert((format!("{SRV_NAME}."), RecordType::SRV), vec![srv(9300, "host3.example.test.")]);
        loop {
            let u = next(&mut rx).await;
            if u[0].targets.len() == 1 {
                assert_eq!(u[0].targets[0].get("__address__"), "host3.example.test:9300");
                break;
            }
        }

        // Failures: nothing is sent for the failing names, and they count.
        zone.lock().unwrap().fail = true;
        let before = metrics.dns_lookup_failures.get();
        loop {
            let u = next(&mut rx).await;
            if u.is_empty() {
                break;
            }
        }
        assert!(metrics.dns_lookup_failures.get() >= before + 2);
        assert!(metrics.dns_lookups.get() >= metrics.dns_lookup_failures.get());

        // Back, then gone: an empty group.
        {
            let mut z = zone.lock().unwrap();
            z.fail = false;
            z.records.clear();
        }
        loop {
            let u = next(&mut rx).await;
            if !u.is_empty() {
                assert!(u.iter().all(|g| g.targets.is_empty()));
                break;
            }
        }
        task.abort();
    }

    #[tokio::test]
    async fn a_aaaa_mx_and_ns_records() {
        let mapped: std::net::Ipv6Addr = "::ffff:192.0.2.1".parse().unwrap();
        let (_zone, addr) = zone_server(vec![
            (
                "web.example.test.",
                RecordType::A,
                vec![RData::CNAME(CNAME(name("real.example.test."))), RData::A(A::new(192, 0, 2, 10)), RData::TXT(TXT::new(vec!["x".into()]))],
            ),
            ("web.example.test.", RecordType::AAAA, vec![RData::AAAA(AAAA("2001:db8::1".parse().unwrap())), RData::AAAA(AAAA(mapped))]),
            ("example.test.", RecordType::MX, vec![RData::MX(MX::new(10, name("mail.example.test.")))]),
            ("example.test.", RecordType::NS, vec![RData::NS(NS(name("ns1.example.test.")))]),
        ])
        .await;
        let metrics = SdMetrics::default();

        let g = discovery("A", &["web.example.test"], 9100, addr, &metrics).refresh().await;
        assert_eq!(texts(&g), [r#"{__address__="192.0.2.10:9100", __meta_dns_name="web.example.test"}"#]);
        let g = discovery("aaaa", &["web.example.test"], 9100, addr, &metrics).refresh().await;
        assert_eq!(g[0].targets.iter().map(|t| t.get("__address__")).collect::<Vec<_>>(), ["[2001:db8::1]:9100", "192.0.2.1:9100"]);
        let g = discovery("MX", &["example.test"], 25, addr, &metrics).refresh().await;
        assert_eq!(texts(&g), [r#"{__address__="mail.example.test:25", __meta_dns_mx_record_target="mail.example.test.", __meta_dns_name="example.test"}"#]);
        let g = discovery("NS", &["example.test."], 53, addr, &metrics).refresh().await;
        assert_eq!(texts(&g), [r#"{__address__="ns1.example.test:53", __meta_dns_name="example.test.", __meta_dns_ns_record_target="ns1.example.test."}"#]);
        assert_eq!(metrics.dns_lookup_failures.get(), 0);
    }

    #[tokio::test]
    async fn truncated_answers_are_asked_again_over_tcp() {
        let (zone, addr) = zone_server(vec![("_node._tcp.example.test.", RecordType::SRV, vec![srv(9100, "h.example.test.")])]).await;
        zone.lock().unwrap().truncate = true;
        let g = discovery("SRV", &[SRV_NAME], 0, addr, &SdMetrics::default()).refresh().await;
        assert_eq!(g[0].targets[0].get("__address__"), "h.example.test:9100");
        let asked: Vec<bool> = zone.lock().unwrap().asked.iter().map(|a| a.2).collect();
        assert_eq!(asked, [false, true]);
    }

    #[tokio::test]
    async fn an_unreachable_server_or_resolv_conf_is_a_failed_lookup() {
        let metrics = SdMetrics::default();
        // Nothing listens there: the UDP question times out.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut d = discovery("SRV", &[SRV_NAME], 0, silent.local_addr().unwrap(), &metrics);
        Arc::get_mut(&mut d.lookup).unwrap().timeout = Duration::from_millis(100);
        assert!(d.refresh().await.is_empty());
        assert_eq!((metrics.dns_lookups.get(), metrics.dns_lookup_failures.get()), (1, 1));

        Arc::get_mut(&mut d.lookup).unwrap().servers = Servers::ResolvConf(PathBuf::from("/nonexistent/resolv.conf"));
        let err = d.lookup.lookup_with_search_path(SRV_NAME).await.unwrap_err();
        assert_eq!(err.to_string(), "could not load resolv.conf: open /nonexistent/resolv.conf: no such file or directory");
        let err = DnsError::Unresolved(SRV_NAME.into());
        assert_eq!(err.to_string(), r#"could not resolve "_node._tcp.example.test": all servers responded with errors to at least one search domain"#);
    }

    #[test]
    fn resolv_conf_as_go_reads_it() {
        let c = ResolvConf::parse(
            "# comment\nnameserver 10.0.0.1\nnameserver ::1 # x\ndomain a.example\nsearch b.example c.example\noptions rotate ndots:3 timeout:1\n",
        );
        assert_eq!(c, ResolvConf { servers: vec!["10.0.0.1:53".into(), "[::1]:53".into()], search: vec!["b.example".into(), "c.example".into()], ndots: 3 });
        assert_eq!(ResolvConf::parse("options ndots:99\n").ndots, 15);
        assert_eq!(ResolvConf::parse("options ndots:x\n").ndots, 0);
        assert_eq!(ResolvConf::parse("search x.example\ndomain\n").search, Vec::<String>::new());
    }

    #[test]
    fn candidate_names_follow_ndots_and_the_search_list() {
        let c = ResolvConf { servers: Vec::new(), search: vec!["corp.example".into(), "example.".into()], ndots: 1 };
        assert_eq!(c.name_list("a.b."), ["a.b."]);
        assert_eq!(c.name_list("a.b"), ["a.b.", "a.b.corp.example.", "a.b.example."]);
        assert_eq!(c.name_list("host"), ["host.corp.example.", "host.example.", "host."]);
    }
}
