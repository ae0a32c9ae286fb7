//! The controller of one discovery: it keeps the objects every watcher
//! reports (the role's own and the related ones whose labels its targets
//! carry: services and pods for endpoints, nodes and namespaces for
//! attached metadata), and turns each change into the groups it touches.
//! A change to a related object re-sends the role's groups that use it, as
//! Prometheus's informer handlers re-queue them.
//!
//! Nothing is sent before every watcher has listed once, so that no group
//! goes out without the labels of related objects that were simply not
//! listed yet.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use config::sd::KubernetesRole;
use tokio::sync::mpsc;

use super::{EndpointSlice, Endpoints, Ingress, Job, Namespace, Node, Pod, ReplicaSet, Resource, Service, Target};
use crate::Group;

/// An object's namespace (empty for nodes and namespaces) and name.
pub(crate) type Key = (String, String);
/// Objects of one kind by key, ordered so that a namespace is a range.
pub(crate) type Store<T> = BTreeMap<Key, T>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Pod,
    Service,
    Node,
    Namespace,
    Endpoints,
    EndpointSlice,
    Ingress,
    ReplicaSet,
    Job,
}

/// What a watcher saw.
#[derive(Debug)]
pub(crate) enum Event<T> {
    /// Every object of a namespace (the whole cluster when empty).
    Listed {
        namespace: String,
        items: Vec<T>,
    },
    Applied(T),
    Deleted(Key),
}

/// The objects watched, each kind in its own store. Stores of kinds nobody
/// watches stay empty, so that lookups in them find nothing.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub(crate) pods: Store<Pod>,
    pub(crate) services: Store<Service>,
    pub(crate) nodes: Store<Node>,
    pub(crate) namespaces: Store<Namespace>,
    pub(crate) endpoints: Store<Endpoints>,
    pub(crate) endpointslices: Store<EndpointSlice>,
    pub(crate) ingresses: Store<Ingress>,
    pub(crate) replicasets: Store<ReplicaSet>,
    pub(crate) jobs: Store<Job>,
    /// What `attach_metadata` asks for, beyond what the stores hold.
    pub(crate) attach: Attach,
}

/// The `attach_metadata` settings whose effect is not only that of a
/// watched kind's store being filled.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Attach {
    /// Pods on nodes not in the node store (filtered out by the node
    /// selector) have no targets.
    pub(crate) node: bool,
    pub(crate) deployment: bool,
    pub(crate) job: bool,
    pub(crate) cronjob: bool,
}

/// The objects of a store in one namespace, or all of them.
pub(crate) fn in_namespace<'a, T>(store: &'a Store<T>, namespace: &'a str) -> impl Iterator<Item = (&'a Key, &'a T)> + 'a {
    let all = namespace.is_empty();
    let start = if all { (String::new(), String::new()) } else { (namespace.to_owned(), String::new()) };
    store.range(start..).take_while(move |(k, _)| all || k.0 == namespace)
}

/// What applying an event changed.
#[derive(Debug)]
struct Changed {
    kind: Kind,
    /// The namespace a list replaced (empty: the whole cluster).
    listed: Option<String>,
    /// The object applied or deleted, or those a list dropped.
    keys: Vec<Key>,
    /// The objects that came, went, or changed the labels they give the
    /// groups of other objects.
    significant: Vec<Key>,
}

/// One watcher's event, typed inside, applied by the controller.
pub(crate) struct Update {
    watcher: (Kind, String),
    apply: Box<dyn FnOnce(&mut Cache) -> Changed + Send>,
}

impl std::fmt::Debug for Update {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update").field("watcher", &self.watcher).finish_non_exhaustive()
    }
}

impl Update {
    /// An event of the watcher of `R` in `namespace`.
    pub(crate) fn new<R: Resource>(namespace: String, ev: Event<R>) -> Update {
        Update { watcher: (R::KIND, namespace), apply: Box::new(move |cache| apply(R::store_mut(cache), ev, R::KIND)) }
    }
}

fn apply<T: Resource>(store: &mut Store<T>, ev: Event<T>, kind: Kind) -> Changed {
    match ev {
        Event::Listed { namespace, items } => {
            let old_keys: Vec<Key> = in_namespace(store, &namespace).map(|(k, _)| k.clone()).collect();
            let mut old: BTreeMap<Key, T> = old_keys.into_iter().filter_map(|k| store.remove_entry(&k)).collect();
            let mut significant = Vec::new();
            for obj in items {
                let key = obj.key();
                if old.remove(&key).is_none_or(|o| !o.same_for_users(&obj)) {
                    significant.push(key.clone());
                }
                store.insert(key, obj);
            }
            let keys: Vec<Key> = old.into_keys().collect();
            significant.extend(keys.iter().cloned());
            Changed { kind, listed: Some(namespace), keys, significant }
        }
        Event::Applied(obj) => {
            let key = obj.key();
            let old = store.remove(&key);
            let significant = if old.is_none_or(|o| !o.same_for_users(&obj)) { vec![key.clone()] } else { Vec::new() };
            store.insert(key.clone(), obj);
            Changed { kind, listed: None, keys: vec![key], significant }
        }
        Event::Deleted(key) => {
            let significant = if store.remove(&key).is_some() { vec![key.clone()] } else { Vec::new() };
            Changed { kind, listed: None, keys: vec![key], significant }
        }
    }
}

/// The role's objects whose groups must be sent again.
#[derive(Debug, Default)]
struct Dirty {
    all: bool,
    namespaces: BTreeSet<String>,
    keys: BTreeSet<Key>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        !self.all && self.namespaces.is_empty() && self.keys.is_empty()
    }
}

#[derive(Debug)]
pub(crate) struct Controller {
    role: KubernetesRole,
    watchers: usize,
    synced: HashSet<(Kind, String)>,
    sent_any: bool,
    /// A hash of each non-empty group sent, by source, so that a group
    /// rebuilt unchanged (after a new list, or a change to a related
    /// object that did not touch it) is not sent again.
    sent: HashMap<String, u64>,
    cache: Cache,
    tx: mpsc::Sender<Vec<Group>>,
}

impl Controller {
    pub(crate) fn new(role: KubernetesRole, watchers: usize, attach: Attach, tx: mpsc::Sender<Vec<Group>>) -> Controller {
        let cache = Cache { attach, ..Cache::default() };
        Controller { role, watchers, synced: HashSet::new(), sent_any: false, sent: HashMap::new(), cache, tx }
    }

    /// Applies updates until the watchers or the manager are gone.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Update>) {
        while let Some(u) = rx.recv().await {
            let mut dirty = Dirty::default();
            self.absorb(u, &mut dirty);
            // Whatever is queued already goes out in the same send.
            while let Ok(u) = rx.try_recv() {
                self.absorb(u, &mut dirty);
            }
            if self.synced.len() < self.watchers {
                continue;
            }
            if !self.sent_any {
                self.sent_any = true;
                dirty.all = true;
            }
            if dirty.is_empty() {
                continue;
            }
            let mut groups = self.groups(&dirty);
            groups.retain(|g| self.changed(g));
            if !groups.is_empty() && self.tx.send(groups).await.is_err() {
                return;
            }
        }
    }

    fn absorb(&mut self, u: Update, dirty: &mut Dirty) {
        let changed = (u.apply)(&mut self.cache);
        if changed.listed.is_some() {
            self.synced.insert(u.watcher);
        }
        // Until every watcher has listed, nothing is sent; the first send
        // then covers everything.
        if self.synced.len() < self.watchers {
            return;
        }
        use KubernetesRole as R;
        match self.role {
            R::Pod => mark::<Pod>(&self.cache, &changed, dirty),
            R::Service => mark::<Service>(&self.cache, &changed, dirty),
            R::Node => mark::<Node>(&self.cache, &changed, dirty),
            R::Ingress => mark::<Ingress>(&self.cache, &changed, dirty),
            R::Endpoints => mark::<Endpoints>(&self.cache, &changed, dirty),
            R::EndpointSlice => mark::<EndpointSlice>(&self.cache, &changed, dirty),
        }
    }

    /// Records the group as sent; false when it is what was sent last.
    fn changed(&mut self, g: &Group) -> bool {
        if g.targets.is_empty() && g.labels.is_empty() {
            return self.sent.remove(&g.source).is_some();
        }
        let mut h = std::hash::DefaultHasher::new();
        (&g.targets, &g.labels).hash(&mut h);
        self.sent.insert(g.source.clone(), h.finish()) != Some(h.finish())
    }

    fn groups(&self, dirty: &Dirty) -> Vec<Group> {
        use KubernetesRole as R;
        match self.role {
            R::Pod => render::<Pod>(&self.cache, dirty),
            R::Service => render::<Service>(&self.cache, dirty),
            R::Node => render::<Node>(&self.cache, dirty),
            R::Ingress => render::<Ingress>(&self.cache, dirty),
            R::Endpoints => render::<Endpoints>(&self.cache, dirty),
            R::EndpointSlice => render::<EndpointSlice>(&self.cache, dirty),
        }
    }
}

/// Marks the role's objects a change touches: the changed objects
/// themselves, or those that use a changed related object.
fn mark<T: Target>(cache: &Cache, changed: &Changed, dirty: &mut Dirty) {
    if changed.kind == T::KIND {
        dirty.keys.extend(changed.keys.iter().cloned());
        match changed.listed.as_deref() {
            Some("") => dirty.all = true,
            Some(ns) => {
                dirty.namespaces.insert(ns.to_owned());
            }
            None => {}
        }
        return;
    }
    // Namespaces, and the workloads whose effect on the endpoints roles
    // goes through their pods, touch whole namespaces.
    if changed.kind == Kind::Namespace {
        dirty.namespaces.extend(changed.significant.iter().map(|k| k.1.clone()));
        return;
    }
    if matches!(changed.kind, Kind::ReplicaSet | Kind::Job) && T::KIND != Kind::Pod {
        dirty.namespaces.extend(changed.significant.iter().map(|k| k.0.clone()));
        return;
    }
    if changed.significant.is_empty() {
        return;
    }
    let keys: HashSet<&Key> = changed.significant.iter().collect();
    // Nodes have no namespace: their users may be anywhere.
    let namespace = if changed.listed.is_none() && changed.significant.len() == 1 { changed.significant[0].0.as_str() } else { "" };
    for (k, obj) in in_namespace(T::store(cache), namespace) {
        if obj.related(changed.kind).iter().any(|r| keys.contains(r)) {
            dirty.keys.insert(k.clone());
        }
    }
}

fn render<T: Target>(cache: &Cache, dirty: &Dirty) -> Vec<Group> {
    let store = T::store(cache);
    let mut keys: BTreeSet<&Key> = dirty.keys.iter().collect();
    if dirty.all {
        keys.extend(store.keys());
    } else {
        for ns in &dirty.namespaces {
            keys.extend(in_namespace(store, ns).map(|(k, _)| k));
        }
    }
    keys.into_iter()
        .filter_map(|k| match store.get(k) {
            None => Some(Group::empty(T::source_of(k))),
            Some(o) if o.keeps_last_group() => None,
            Some(o) => Some(o.group(cache)),
        })
        .collect()
}
