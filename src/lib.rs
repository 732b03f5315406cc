//! Chorus: an anonymous survey service whose answers are sealed at rest and whose only output is
//! disclosure-controlled aggregates. `main.rs` only parses the command line; everything is here.

pub mod app;
pub(crate) mod assets;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dev;
pub mod i18n;
pub mod intake;
pub mod keyring;
pub mod metrics;
pub mod month;
pub mod report;
pub mod retention;
pub mod seal;
pub mod staff;
pub mod store;
pub mod survey;
pub mod telemetry;
pub mod web;

pub use config::Config;
