//! The alerts slice: reading senders' bodies into alert facts, deciding where each alert
//! goes (a new incident, an open one, the alerts channel), and what the projection keeps
//! about alerts and their groups.

pub mod bodies;
pub mod intake;
pub mod placing;
pub mod recent;
pub mod report;
pub mod view;

pub use bodies::{read_alerts, AlertBodyError};
