//! The catalog says what blocks exist and what they take; Rust only runs
//! them. Every native block a node registers is one the catalog declares,
//! and every block the catalog declares is served by a native block or a
//! catalog script.

use canvas_connectors::{BlockDeps, ConnectorConfig, Connectors};
use std::time::Duration;

fn registered() -> canvas_blocks::NativeBlocks {
    let dir = tempfile::tempdir().unwrap();
    let connectors = Connectors::new(ConnectorConfig {
        timeout: Duration::from_secs(1),
        transfer_stall: Duration::from_secs(1),
        extra_ca_file: None,
        egress: Default::default(),
        vendor_bases: Default::default(),
    })
    .unwrap();
    let mut blocks = canvas_engine::builtin_blocks();
    let deps = BlockDeps {
        mailer: None,
        datasets: canvas_blocks::Datasets::local(dir.path()).unwrap(),
    };
    connectors.register_blocks(&mut blocks, deps);
    blocks
}

#[test]
fn every_native_block_is_declared_in_the_catalog_and_every_declared_block_runs() {
    let catalog = canvas_catalog::Catalog::builtin();
    let blocks = registered();
    let names: Vec<(&str, &str)> = blocks.names().collect();

    for (app, name) in &names {
        let declared = match *app {
            "" => catalog.utility_blocks().iter().any(|b| b.name == *name),
            short => catalog
                .application_by_short_name(short)
                .is_some_and(|a| a.block(name).is_some()),
        };
        assert!(
            declared,
            "native block '{name}' of '{app}' is not in the catalog"
        );
    }
    for app in catalog.applications() {
        for block in &app.blocks {
            let native = names.contains(&(app.short_name.as_str(), block.name.as_str()));
            let script = catalog
                .block_script(&app.short_name, &block.name, true)
                .is_some();
            assert!(
                native || script,
                "'{}' of {} is declared but nothing runs it",
                block.name,
                app.short_name
            );
        }
    }
    for utility in catalog.utility_blocks() {
        assert!(
            names.contains(&("", utility.name.as_str())),
            "{}",
            utility.name
        );
    }
}
