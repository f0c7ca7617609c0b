//! Black-box tests of the Canvas API over HTTP, each against SQLite and PostgreSQL.

mod fiken_server;
mod ftp;
mod helpers;
mod hrtm_server;
mod http_server;
mod mystore_server;
mod quinyx_server;
mod sftp_server;
mod smtp;
mod taso_server;
mod tripletex_server;

mod accounts;
mod applications;
mod apps;
mod auth;
mod browser;
mod connections;
mod connectors;
mod console;
mod console_pages;
mod egress;
mod errors;
mod fairness;
mod filehub_names;
mod files;
mod ftp_connector;
mod http_connector;
mod leases;
mod limits;
mod lockout;
mod meta;
mod roles;
mod run_list;
mod runs;
mod sandbox;
mod schedules;
mod sftp;
mod sql_connector;
mod templates;
mod text;
mod vendor_templates;
mod vendors;
mod workflows;

/// Not a test: the sandbox process this binary's engines run scripts in
/// (`helpers::sandbox_program`); a no-op when the harness runs it as a test.
#[test]
fn sandbox_process() {
    if std::env::var_os(helpers::SANDBOX_CHILD).is_some() {
        let code = match canvas_engine::sandbox::serve() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("sandbox: {e}");
                1
            }
        };
        std::process::exit(code);
    }
}
