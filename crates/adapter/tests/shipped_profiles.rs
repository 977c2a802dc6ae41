//! The vendor profiles shipped in `config/vendors/` load, and pick the chargers they are for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use zaryad_adapter::profile::{GENERIC, StationFacts};
use zaryad_adapter::{Profile, ProfileSet};

fn shipped() -> ProfileSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/vendors");
    let mut profiles = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            profiles.push(
                Profile::from_toml(&name, &text)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display())),
            );
        }
    }
    ProfileSet::new(profiles).unwrap()
}

fn chosen(set: &ProfileSet, station_id: &str, vendor: &str, model: &str) -> String {
    let facts = StationFacts {
        station_id,
        vendor: Some(vendor),
        model: Some(model),
        firmware: None,
        pinned: None,
    };
    set.select(&facts).profile.name().to_owned()
}

#[test]
fn shipped_profiles_pick_their_chargers() {
    let set = shipped();
    assert_eq!(chosen(&set, "CP1", "XQ", "ocpp_ac_7kw"), "china-xq");
    assert_eq!(
        chosen(&set, "CP2", "tscontech", "TSCT-2007CP"),
        "korea-tscontech"
    );
    assert_eq!(chosen(&set, "CP3", "Dongah", "DC100"), "korea-lselink");
    assert_eq!(chosen(&set, "GRS-1700003fb5d", "?", "?"), "byte-level");
    assert_eq!(chosen(&set, "CP4", "FoxESS", "A022KP1"), "foxess");
    assert_eq!(chosen(&set, "CP5", "ABB", "CDT_TACW7::NET_WIFI"), GENERIC);
}

#[test]
fn the_shipped_generic_profile_is_the_built_in_one() {
    let set = shipped();
    assert_eq!(
        set.generic().repair_names(),
        Profile::generic().repair_names(),
        "config/vendors/generic.toml and the built-in generic profile differ"
    );
}
