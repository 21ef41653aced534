//! The series of a record: one per device × CPU × indicator, named `appliance_cpu_<indicator>_percent` (a gauge
//! of percent, Prometheus' unit-suffix convention), labelled `device` (the inventory's name) and `cpu` (the CPU
//! number as the device reports it).

/// The prefix and suffix of every metric name.
pub const PREFIX: &str = "appliance_cpu_";
pub const SUFFIX: &str = "_percent";

/// The metric name of an indicator: its name with every character outside `[a-zA-Z0-9_]` as `_`.
pub fn metric_name(indicator: &str) -> String {
    let mut name = String::with_capacity(PREFIX.len() + indicator.len() + SUFFIX.len());
    name.push_str(PREFIX);
    name.extend(indicator.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    name.push_str(SUFFIX);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        assert_eq!(metric_name("user"), "appliance_cpu_user_percent");
        assert_eq!(
            metric_name("soft irq/s"),
            "appliance_cpu_soft_irq_s_percent"
        );
    }
}
