//! The label sets that the counters ([`super::prometheus`]) and the gauges
//! ([`super::gauges`]) share.

use prometheus_client::encoding::EncodeLabelSet;

/// One engine's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct EngineLabels {
    pub engine: String,
}

/// The series of the jobs of one (expression, engine): never one job's, so
/// that the registry stays bounded.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct JobLabels {
    pub expression: String,
    pub engine: String,
}
