//! The default URL form, `sqlite://data/zaryad.db`, is relative to the working directory.
//!
//! Alone in its own test binary because it changes the process's working directory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use zaryad_store::StoreOptions;

#[tokio::test]
async fn a_relative_url_creates_its_directory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let store = zaryad_store::open(&StoreOptions::default()).await.unwrap();
    store.ping().await.unwrap();
    assert!(dir.path().join("data").join("zaryad.db").is_file());
    drop(store);
    zaryad_store::migrate("sqlite:other/z.db").await.unwrap();
    assert!(dir.path().join("other").join("z.db").is_file());
}
