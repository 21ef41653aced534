//! The mock API's counters as Prometheus metrics, for its `GET /metrics` (read from its state at scrape time).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::mock::MockState;
use crate::observe::prom::{counter, labelled_counter};

/// The mock API's counters.
#[derive(Debug)]
struct MockCollector {
    state: Arc<MockState>,
}

impl Collector for MockCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.state.snapshot();
        counter(
            &mut e,
            "app_mock_requests",
            "POST /load requests",
            s.requests,
        )?;
        let mut statuses: Vec<(String, u64)> = vec![("200".to_string(), s.loads_accepted)];
        statuses.extend(s.loads_refused.iter().map(|(k, v)| (k.to_string(), *v)));
        let pairs: Vec<(&str, u64)> = statuses.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        labelled_counter(
            &mut e,
            "app_mock_loads",
            "POST /load answers by status",
            "status",
            &pairs,
        )?;
        counter(
            &mut e,
            "app_mock_records",
            "Records acknowledged, each idempotency key once",
            s.records_accepted,
        )?;
        counter(
            &mut e,
            "app_mock_received_bytes",
            "Request body bytes received",
            s.bytes,
        )?;
        counter(
            &mut e,
            "app_mock_duplicate_batches",
            "Batches whose idempotency key was already acknowledged",
            s.duplicate_batches,
        )?;
        counter(
            &mut e,
            "app_mock_injected_failures",
            "Failures injected",
            s.injected_failures,
        )?;
        counter(
            &mut e,
            "app_mock_device_requests",
            "GET /device/{name}/cpu requests",
            s.device_requests,
        )?;
        Ok(())
    }
}

/// The registry of the mock API.
pub fn registry(state: Arc<MockState>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(MockCollector { state }));
    registry
}
