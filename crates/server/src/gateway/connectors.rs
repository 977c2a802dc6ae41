//! A station's connectors as its connection keeps them.
//!
//! A charger has a handful of connectors and every connected charger holds this, so it is a
//! vector sized to its contents, searched in order, not a hash map (whose smallest table
//! costs several times as much).

use zaryad_model::Connector;

/// Connectors by (EVSE, connector) id.
#[derive(Debug, Default)]
pub struct Connectors(Vec<Connector>);

impl Connectors {
    /// The connector with these ids.
    pub fn get(&self, evse_id: u32, connector_id: u32) -> Option<&Connector> {
        self.0.iter().find(|connector| {
            connector.evse_id == evse_id && connector.connector_id == connector_id
        })
    }

    /// Adds the connector, or replaces the one with its ids.
    pub fn insert(&mut self, connector: Connector) {
        match self.0.iter_mut().find(|known| {
            known.evse_id == connector.evse_id && known.connector_id == connector.connector_id
        }) {
            Some(known) => *known = connector,
            None => {
                self.0.reserve_exact(1);
                self.0.push(connector);
            }
        }
    }

    /// Every connector.
    pub fn iter(&self) -> impl Iterator<Item = &Connector> {
        self.0.iter()
    }
}

impl FromIterator<Connector> for Connectors {
    fn from_iter<I: IntoIterator<Item = Connector>>(connectors: I) -> Connectors {
        let mut all = Connectors::default();
        for connector in connectors {
            all.insert(connector);
        }
        all.0.shrink_to_fit();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_is_found_by_both_ids_and_replaced_in_place() {
        let mut connectors: Connectors = [Connector::new(1, 1), Connector::new(2, 1)]
            .into_iter()
            .collect();
        assert!(connectors.get(1, 1).is_some());
        assert!(connectors.get(1, 2).is_none());
        let mut faulted = Connector::new(2, 1);
        faulted.error_code = Some("GroundFailure".into());
        connectors.insert(faulted);
        assert_eq!(connectors.iter().count(), 2);
        assert_eq!(
            connectors.get(2, 1).unwrap().error_code.as_deref(),
            Some("GroundFailure")
        );
        connectors.insert(Connector::new(0, 0));
        assert_eq!(connectors.iter().count(), 3);
        assert_eq!(connectors.0.capacity(), 3, "sized to its contents");
    }
}
