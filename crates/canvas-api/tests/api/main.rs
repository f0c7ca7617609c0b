//! Black-box tests of the Canvas API over HTTP, each against SQLite and PostgreSQL.

mod ftp;
mod helpers;
mod http_server;
mod sftp_server;
mod smtp;

mod accounts;
mod applications;
mod apps;
mod auth;
mod connections;
mod connectors;
mod egress;
mod errors;
mod filehub_names;
mod files;
mod ftp_connector;
mod http_connector;
mod limits;
mod lockout;
mod meta;
mod runs;
mod schedules;
mod sftp;
mod sql_connector;
mod templates;
mod text;
mod workflows;
