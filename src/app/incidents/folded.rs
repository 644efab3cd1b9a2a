//! Incidents folded from their streams and kept between orders, so that an order reads and
//! folds only the events appended since the last one instead of the whole stream (a long
//! incident's every edit would otherwise cost its whole history).

use crate::domain::incident::Incident;
use crate::domain::types::IncidentNumber;
use std::collections::HashMap;
use std::sync::Mutex;

/// How many incidents stay folded. The busiest few take every order; the least recently
/// used goes first, so memory stays bounded by the few incidents being worked on.
const KEPT: usize = 32;

/// Folded incidents by number, each as of its `version` (the stream's first `version`
/// events, which never change: a kept state is never stale, only behind).
#[derive(Debug, Default)]
pub(in crate::app) struct FoldedIncidents {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    states: HashMap<IncidentNumber, (Incident, u64)>,
    /// A counter of uses: the state with the smallest stamp is the least recently used.
    uses: u64,
}

impl FoldedIncidents {
    /// Takes the incident's folded state out, if kept: a concurrent order on the same
    /// incident then folds from the store itself rather than waiting for this one.
    pub(in crate::app) fn take(&self, number: IncidentNumber) -> Option<Incident> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.states.remove(&number).map(|(state, _)| state)
    }

    /// Keeps a folded state for the next order, unless a later one is already kept.
    pub(in crate::app) fn keep(&self, state: Incident) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.uses += 1;
        let stamp = kept.uses;
        if let Some((held, _)) = kept.states.get(&state.number) {
            if held.version >= state.version {
                return;
            }
        }
        if kept.states.len() >= KEPT && !kept.states.contains_key(&state.number) {
            let oldest = kept
                .states
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(number, _)| *number);
            if let Some(oldest) = oldest {
                kept.states.remove(&oldest);
            }
        }
        kept.states.insert(state.number, (state, stamp));
    }

    /// How many incidents are kept folded.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept.lock().unwrap().states.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::fold;
    use crate::domain::testkit::given;
    use crate::domain::types::Severity;

    fn opened(number: u64) -> Incident {
        let records = given(
            "rpark",
            vec![crate::domain::event::Event::IncidentOpened {
                number: IncidentNumber(number),
                title: "Payments down".into(),
                severity: Severity::Sev2,
                channel: "ops".into(),
            }],
        );
        fold(&records).unwrap()
    }

    #[test]
    fn a_kept_state_is_taken_once_and_an_older_one_never_replaces_a_newer() {
        let folded = FoldedIncidents::default();
        let mut newer = opened(1);
        newer.version = 5;
        folded.keep(newer);
        folded.keep(opened(1));
        assert_eq!(folded.take(IncidentNumber(1)).unwrap().version, 5);
        assert!(folded.take(IncidentNumber(1)).is_none());
    }

    #[test]
    fn the_least_recently_kept_incident_goes_first_when_full() {
        let folded = FoldedIncidents::default();
        for n in 1..=KEPT as u64 {
            folded.keep(opened(n));
        }
        // Incident 1 used again: incident 2 is now the least recently used.
        let one = folded.take(IncidentNumber(1)).unwrap();
        folded.keep(one);
        folded.keep(opened(KEPT as u64 + 1));
        assert_eq!(folded.len(), KEPT);
        assert!(folded.take(IncidentNumber(2)).is_none());
        assert!(folded.take(IncidentNumber(1)).is_some());
        assert!(folded.take(IncidentNumber(KEPT as u64 + 1)).is_some());
    }
}
