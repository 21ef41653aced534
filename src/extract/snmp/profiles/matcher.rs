//! Which profile a device gets: among the profiles one of whose sysObjectID prefixes the device's sysObjectID
//! starts with (whole arcs) and whose `sys_descr` text, if any, its sysDescr holds, the longest prefix wins; on
//! equal prefixes a profile with a `sys_descr` beats one without, and a user's profile beats a built-in one.

use super::format::Profile;
use crate::snmp::Oid;

/// The profile chosen and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Its position in the catalog.
    pub index: usize,
    /// The prefix that matched.
    pub prefix: Oid,
    /// Whether its `sys_descr` matched too.
    pub by_descr: bool,
}

/// The best profile for a device with `sys_object_id` and `sys_descr` (lowercased by the caller), or `None`.
pub fn choose(profiles: &[Profile], sys_object_id: &Oid, sys_descr_lower: &str) -> Option<Choice> {
    let mut best: Option<((usize, bool, bool, usize), Choice)> = None;
    for (index, p) in profiles.iter().enumerate() {
        if let Some(d) = &p.sys_descr {
            if !sys_descr_lower.contains(d.as_str()) {
                continue;
            }
        }
        let Some(prefix) = p
            .prefixes
            .iter()
            .filter(|pre| sys_object_id.starts_with(pre))
            .max_by_key(|pre| pre.ids().len())
        else {
            continue;
        };
        // Later entries win ties: user profiles come after the built-in ones.
        let score = (prefix.ids().len(), p.sys_descr.is_some(), p.user, index);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((
                score,
                Choice {
                    index,
                    prefix: prefix.clone(),
                    by_descr: p.sys_descr.is_some(),
                },
            ));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::super::format::parse;
    use super::*;

    fn profiles(text: &str, user: bool) -> Vec<Profile> {
        parse("t.toml", text, user).unwrap()
    }

    fn one(name: &str, prefixes: &str, descr: &str) -> String {
        let descr = if descr.is_empty() {
            String::new()
        } else {
            format!("sys_descr = \"{descr}\"\n")
        };
        format!(
            "[[profile]]\nname = \"{name}\"\nsys_object_id = [{prefixes}]\n{descr}[[profile.cpu]]\nread = \"ucd\"\n"
        )
    }

    fn pick(all: &[Profile], oid: &str, descr: &str) -> Option<String> {
        choose(all, &Oid::parse(oid).unwrap(), &descr.to_lowercase())
            .map(|c| all[c.index].name.clone())
    }

    #[test]
    fn the_most_specific_prefix_wins_whole_arcs_only() {
        let text = [
            one("cisco", "\"1.3.6.1.4.1.9\"", ""),
            one(
                "cisco-wlc",
                "\"1.3.6.1.4.1.9.1.1069\", \"1.3.6.1.4.1.9.1.1279\"",
                "",
            ),
            one("nexus", "\"1.3.6.1.4.1.9.12.3\"", ""),
        ]
        .concat();
        let all = profiles(&text, false);
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.9.1.516", "").as_deref(),
            Some("cisco")
        );
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.9.1.1069", "").as_deref(),
            Some("cisco-wlc")
        );
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.9.12.3.1.3.1084", "").as_deref(),
            Some("nexus")
        );
        // 1.3.6.1.4.1.99 does not start with 1.3.6.1.4.1.9: arcs, not characters.
        assert_eq!(pick(&all, "1.3.6.1.4.1.99.1", ""), None);
        assert_eq!(pick(&all, "1.3.6.1.4.1.9", "").as_deref(), Some("cisco"));
    }

    #[test]
    fn a_sys_descr_pattern_narrows_and_wins_ties() {
        let text = [
            one("linux", "\"1.3.6.1.4.1.8072.3.2.10\"", ""),
            one("ubiquiti-airos", "\"1.3.6.1.4.1.8072.3.2.10\"", "AirOS"),
        ]
        .concat();
        let all = profiles(&text, false);
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.8072.3.2.10", "Linux 4.4 AirOS").as_deref(),
            Some("ubiquiti-airos")
        );
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.8072.3.2.10", "Linux 5.10").as_deref(),
            Some("linux")
        );
    }

    #[test]
    fn a_user_profile_for_the_same_match_wins() {
        let mut all = profiles(&one("builtin-acme", "\"1.3.6.1.4.1.77\"", ""), false);
        all.extend(profiles(&one("my-acme", "\"1.3.6.1.4.1.77\"", ""), true));
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.77.1", "").as_deref(),
            Some("my-acme")
        );
        // A more specific built-in still beats a broader user profile.
        all.extend(profiles(&one("acme-x", "\"1.3.6.1.4.1.77.1\"", ""), false));
        assert_eq!(
            pick(&all, "1.3.6.1.4.1.77.1.5", "").as_deref(),
            Some("acme-x")
        );
    }
}
