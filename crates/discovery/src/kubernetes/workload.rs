//! ReplicaSets and Jobs, watched only for `attach_metadata.deployment`,
//! `job` and `cronjob`: a pod's controller is one of them, and their own
//! controller names the deployment or cron job the pod belongs to.

use serde::Deserialize;

use super::{Cache, Kind, ObjectMeta, Resource, Store};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ReplicaSet {
    pub(crate) metadata: ObjectMeta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Job {
    pub(crate) metadata: ObjectMeta,
}

impl Resource for ReplicaSet {
    const ROLE: &'static str = "replicaset";
    const PATH: &'static str = "apis/apps/v1";
    const PLURAL: &'static str = "replicasets";
    const KIND: Kind = Kind::ReplicaSet;

    super::stored_in!(replicasets);

    /// Pods carry only the name of the deployment that owns it.
    fn same_for_users(&self, other: &Self) -> bool {
        self.metadata.controller_of_kind("Deployment") == other.metadata.controller_of_kind("Deployment")
    }
}

impl Resource for Job {
    const ROLE: &'static str = "job";
    const PATH: &'static str = "apis/batch/v1";
    const PLURAL: &'static str = "jobs";
    const KIND: Kind = Kind::Job;

    super::stored_in!(jobs);

    /// Pods carry only the name of the cron job that owns it.
    fn same_for_users(&self, other: &Self) -> bool {
        self.metadata.controller_of_kind("CronJob") == other.metadata.controller_of_kind("CronJob")
    }
}
