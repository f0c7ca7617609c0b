//! The built-in catalog, compiled in from the JSON files under `data/`: one
//! file per application (fields, blocks, connector) and one per built-in
//! workflow template. Parsed once, on first use.

use canvas_domain::catalog::{
    Application, BlockDef, ChainBlock, CommittedTemplate, Template, TemplateState,
};
use canvas_domain::time::Timestamp;
use chrono::NaiveDateTime;
use serde::Deserialize;
use std::sync::LazyLock;
use uuid::Uuid;

macro_rules! data_files {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../data/", $dir, "/", $name, ".json")))),*]
    };
}

macro_rules! script_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../data/scripts/", $name)))),*]
    };
}

const APPLICATIONS: &[(&str, &str)] = data_files!("applications":
    "talentsoft", "quinyx", "talent-manager", "microsoft-sql", "file-hub", "ftp-server",
    "mystore", "fiken", "tripletex", "sftp", "postgresql", "mysql", "http-rest",
);

const TEMPLATES: &[(&str, &str)] = data_files!("templates":
    "quinyx-employee-export-into-ftp-csv", "mystore-customers-send-email",
    "transferring-of-orders-and-customers", "order-transferring",
);

/// Vendors' blocks shipped as JavaScript (`vendor.scripts` names them).
const SCRIPTS: &[(&str, &str)] = script_files!(
    "fiken-match-contacts.js",
    "fiken-post-orders-and-customers.js",
    "tripletex-post-invoices.js",
    "quinyx-get-employees.js",
);

/// Functions every vendor script may use (øre, Oslo dates), prepended to each.
const COMMON_SCRIPT: &str = include_str!("../data/scripts/common.js");

const UTILITY_BLOCKS: &str = include_str!("../data/blocks/utility.json");

pub struct Catalog {
    applications: Vec<Application>,
    /// The vendors' scripts by file name, each after `common.js`.
    scripts: Vec<(&'static str, String)>,
    templates: Vec<Template>,
    /// Blocks every template may use without an application (map, filter, CSV, JSON).
    utility_blocks: Vec<BlockDef>,
}

static BUILTIN: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::load().unwrap_or_else(|e| panic!("{e}")));

impl Catalog {
    /// The catalog compiled into this binary. Its files are checked by this
    /// crate's tests, so loading cannot fail in a built binary.
    pub fn builtin() -> &'static Catalog {
        &BUILTIN
    }

    fn load() -> Result<Self, String> {
        let applications = APPLICATIONS
            .iter()
            .map(|(name, text)| {
                serde_json::from_str(text).map_err(|e| format!("applications/{name}.json: {e}"))
            })
            .collect::<Result<Vec<Application>, _>>()?;
        let templates = TEMPLATES
            .iter()
            .map(|(name, text)| {
                parse_template(text).map_err(|e| format!("templates/{name}.json: {e}"))
            })
            .collect::<Result<Vec<Template>, _>>()?;
        for app in &applications {
            for script in app.vendor.iter().flat_map(|v| &v.scripts) {
                if !SCRIPTS.iter().any(|(file, _)| *file == script.file) {
                    return Err(format!("{}: no script {}", app.name, script.file));
                }
                if app.block(&script.block).is_none() {
                    return Err(format!(
                        "{}: script of an unknown block {}",
                        app.name, script.block
                    ));
                }
            }
        }
        let utility_blocks = serde_json::from_str(UTILITY_BLOCKS)
            .map_err(|e| format!("blocks/utility.json: {e}"))?;
        let scripts = SCRIPTS
            .iter()
            .map(|(file, source)| (*file, format!("{COMMON_SCRIPT}\n{source}")))
            .collect();
        Ok(Self {
            applications,
            scripts,
            templates,
            utility_blocks,
        })
    }

    pub fn applications(&self) -> &[Application] {
        &self.applications
    }

    pub fn application(&self, id: Uuid) -> Option<&Application> {
        self.applications.iter().find(|a| a.id == id)
    }

    pub fn application_by_short_name(&self, short: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.short_name.eq_ignore_ascii_case(short))
    }

    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    pub fn template(&self, id: Uuid) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }

    /// The definition of a block named `name`: a utility block, or one
    /// offered by one of `applications`.
    pub fn block<'a>(&'a self, applications: &[String], name: &str) -> Option<&'a BlockDef> {
        self.utility_block(name).or_else(|| {
            applications
                .iter()
                .filter_map(|short| self.application_by_short_name(short))
                .find_map(|app| app.block(name))
        })
    }

    /// The definition of a chain's block `name`: a utility block, else the
    /// block of `application` when the chain names one (it must be among
    /// `applications`), else the block of the application that offers it.
    pub fn chain_block<'a>(
        &'a self,
        applications: &[String],
        application: Option<&str>,
        name: &str,
    ) -> Option<&'a BlockDef> {
        match application {
            None => self.block(applications, name),
            Some(short) => self.utility_block(name).or_else(|| {
                applications
                    .iter()
                    .find(|a| a.as_str() == short)
                    .and_then(|a| self.application_by_short_name(a))
                    .and_then(|app| app.block(name))
            }),
        }
    }

    /// The applications among `applications` that offer a block `name`.
    pub fn offering<'a>(&'a self, applications: &'a [String], name: &str) -> Vec<&'a str> {
        applications
            .iter()
            .filter(|short| {
                self.application_by_short_name(short)
                    .is_some_and(|app| app.block(name).is_some())
            })
            .map(String::as_str)
            .collect()
    }

    /// The catalog script that does the work of application `short`'s block
    /// `name`, when it is shipped as one (`has_input`: the block has a data source).
    pub fn block_script(&self, short: &str, name: &str, has_input: bool) -> Option<&str> {
        let app = self.application_by_short_name(short)?;
        let script = app
            .vendor
            .as_ref()?
            .scripts
            .iter()
            .find(|s| s.block == name && (has_input || !s.with_input_only))?;
        self.scripts
            .iter()
            .find(|(file, _)| *file == script.file)
            .map(|(_, source)| source.as_str())
    }

    pub fn utility_block(&self, name: &str) -> Option<&BlockDef> {
        self.utility_blocks.iter().find(|b| b.name == name)
    }

    pub fn utility_blocks(&self) -> &[BlockDef] {
        &self.utility_blocks
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TemplateFile {
    id: Uuid,
    name: String,
    description: String,
    date_created: String,
    date_modified: String,
    state: TemplateState,
    version: Option<String>,
    draft_is_committed: Option<bool>,
    date_committed: Option<String>,
    organization_id: Option<Uuid>,
    applications: Vec<String>,
    chain: Vec<ChainBlock>,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|e| format!("bad date '{s}': {e}"))
}

fn parse_template(text: &str) -> Result<Template, String> {
    let f: TemplateFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let committed = (f.state == TemplateState::Published).then(|| CommittedTemplate {
        applications: f.applications.clone(),
        chain: f.chain.clone(),
    });
    Ok(Template {
        id: f.id,
        organization_id: f.organization_id,
        name: f.name,
        description: f.description,
        date_created: parse_time(&f.date_created)?,
        date_modified: parse_time(&f.date_modified)?,
        state: f.state,
        version: f.version,
        draft_is_committed: f.draft_is_committed,
        date_committed: f.date_committed.as_deref().map(parse_time).transpose()?,
        applications: f.applications,
        chain: f.chain,
        committed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use canvas_domain::catalog::FieldKind;

    /// A vendor's declaration covers blocks its application lists (those it
    /// does not declare are not built yet), names credentials it has, and
    /// has an http(s) base.
    #[test]
    fn vendor_declarations_match_their_applications() {
        use canvas_domain::vendor::VendorAuth;
        let c = Catalog::load().unwrap();
        for app in c.applications.iter().filter(|a| a.vendor.is_some()) {
            let v = app.vendor.as_ref().unwrap();
            assert_eq!(
                app.connector,
                Some(canvas_domain::catalog::ConnectorKind::Vendor)
            );
            for declared in &v.blocks {
                assert!(
                    app.block(&declared.name).is_some(),
                    "{}: {}",
                    app.name,
                    declared.name
                );
            }
            let has = |name: &str| app.credential_fields.iter().any(|f| f.short_name == name);
            match &v.auth {
                VendorAuth::Bearer { credential } => assert!(has(credential), "{}", app.name),
                VendorAuth::ClientCredentials {
                    client_id,
                    client_secret,
                    ..
                } => {
                    assert!(has(client_id) && has(client_secret), "{}", app.name)
                }
                VendorAuth::InPath | VendorAuth::InBody => {}
                VendorAuth::Session {
                    create,
                    user_credential,
                    ..
                } => {
                    let named = create.query.values().filter_map(|v| {
                        v.strip_prefix('{')?
                            .strip_suffix('}')
                            .filter(|n| *n != "tomorrow")
                    });
                    for credential in named.chain(user_credential.as_deref()) {
                        assert!(has(credential), "{}: {credential}", app.name);
                    }
                }
            }
            for p in v.placeholders.values() {
                assert!(has(&p.credential), "{}: {}", app.name, p.credential);
            }
            for credential in v.pace.iter().flat_map(|p| &p.per) {
                assert!(has(credential), "{}: {credential}", app.name);
            }
            match &v.base_url_credential {
                Some(credential) => assert!(has(credential), "{}: {credential}", app.name),
                None => {
                    assert!(v.base_url.starts_with("https://") || v.base_url.starts_with("http://"))
                }
            }
        }
        assert!(
            c.applications
                .iter()
                .any(|a| a.short_name == "MYST2" && a.vendor.is_some())
        );
    }

    #[test]
    fn every_data_file_loads_and_ids_and_short_names_are_unique() {
        let c = Catalog::load().unwrap();
        let mut ids: Vec<_> = c.applications.iter().map(|a| a.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), c.applications.len());
        let mut shorts: Vec<_> = c
            .applications
            .iter()
            .map(|a| a.short_name.to_lowercase())
            .collect();
        shorts.sort();
        shorts.dedup();
        assert_eq!(shorts.len(), c.applications.len());
        assert_eq!(
            c.templates.len(),
            4,
            "the seed's three and Order transferring"
        );
    }

    #[test]
    fn select_fields_have_options_and_every_template_block_is_offered_by_its_applications() {
        let c = Catalog::load().unwrap();
        for app in &c.applications {
            for f in app
                .credential_fields
                .iter()
                .filter(|f| f.kind == FieldKind::Select)
            {
                assert!(!f.option_keys().is_empty(), "{}.{}", app.name, f.short_name);
            }
        }
        for t in &c.templates {
            for short in &t.applications {
                assert!(c.application_by_short_name(short).is_some(), "{short}");
            }
            for block in &t.chain {
                assert!(
                    c.block(&t.applications, &block.block_name).is_some(),
                    "{}",
                    block.block_name
                );
            }
        }
    }

    #[test]
    fn ftp_fields_follow_the_seed_names_in_order() {
        let ftp = Catalog::load()
            .unwrap()
            .application_by_short_name("FTP")
            .cloned()
            .unwrap();
        let names: Vec<_> = ftp
            .credential_fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            &names[..4],
            ["User name", "Password", "Port", "Server address"]
        );
    }
}
