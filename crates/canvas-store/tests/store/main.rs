//! The store's contract, on SQLite and PostgreSQL alike: claims, leases,
//! and the two migration folders making the same schema. Each test gets a
//! fresh store (a temporary SQLite file, or a PostgreSQL schema dropped
//! afterwards).

mod claims;
mod fixtures;
mod retention;
mod run_list;
mod schedules;
mod schema;
mod writes;
