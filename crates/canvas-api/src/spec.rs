//! The definitions that route requests and parse bodies, and from which
//! `GetMetaData`, `Describe` and `/api/openapi.json` are generated.

use axum::http::Method;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// One property of a DTO, described with the seed's type names.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub type_name: &'static str,
    pub property: &'static str,
    pub generic: &'static str,
    pub required: bool,
}

/// A request body type. Every field is optional in Rust; `FIELDS` says which
/// are required and the body extractor enforces it, so the description and
/// the parsing cannot disagree.
pub trait Dto: DeserializeOwned {
    const NAME: &'static str;
    const FIELDS: &'static [FieldSpec];
}

macro_rules! api_dto {
    ($(#[$meta:meta])* $name:ident {
        $($field:ident : $ty:ty => $prop:literal, $tname:literal, $generic:literal, $req:literal;)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        pub struct $name {
            $(#[serde(rename = $prop, default)] pub $field: $ty,)*
        }
        impl Dto for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [FieldSpec] = &[
                $(FieldSpec { type_name: $tname, property: $prop, generic: $generic, required: $req }),*
            ];
        }
    };
}

type Map = serde_json::Map<String, serde_json::Value>;

api_dto!(
    /// `POST /api/Account`
    AddAccountApiDto {
        first_name: Option<String> => "firstName", "string", "", true;
        last_name: Option<String> => "lastName", "string", "", true;
        email: Option<String> => "email", "string", "", true;
        phone: Option<String> => "phone", "string", "", false;
        role_name: Option<String> => "roleName", "string", "", true;
        country_key: Option<String> => "countryKey", "string", "", false;
        global_notifications: Option<bool> => "globalNotifications", "boolean", "", false;
        default_notification_email: Option<String> => "defaultNotificationEmail", "string", "", false;
        activated: Option<bool> => "activated", "boolean", "", false;
    }
);

api_dto!(
    /// `POST /api/RegApplication`
    AddRegApplicationApiDto {
        application_id: Option<Uuid> => "applicationId", "guid", "", true;
        tag_text: Option<String> => "tagText", "string", "", false;
        credentials_json: Option<String> => "credentialsJson", "string", "", false;
    }
);

api_dto!(
    /// `POST /api/Workflow`
    AddWorkflowApiDto {
        workflow_template_id: Option<Uuid> => "workflowTemplateId", "guid", "", true;
        name: Option<String> => "name", "string", "", false;
        description: Option<String> => "description", "string", "", false;
        applications: Option<Map> => "applications", "dictionary", "string,guid", true;
        chain: Option<Vec<ChainApiDto>> => "chain", "iEnumerable", "chainApiDto", false;
    }
);

api_dto!(
    /// A block of a chain, in `POST Workflow` (overrides) and `POST WorkflowTemplate`.
    ChainApiDto {
        unique_block_id: Option<Uuid> => "uniqueBlockId", "guid", "", false;
        block_name: Option<String> => "blockName", "string", "", false;
        variables: Option<Map> => "variables", "dictionary", "string,object", false;
        datasource: Option<Uuid> => "datasource", "guid", "", false;
        script: Option<String> => "script", "string", "", false;
        application: Option<String> => "application", "string", "", false;
    }
);

api_dto!(
    /// `POST /api/RunWorkflow`
    RunMetadataApiDto {
        workflow_id: Option<Uuid> => "workflowId", "guid", "", true;
        run_from_block: Option<i64> => "runFromBlock", "int", "", false;
        run_till_block: Option<i64> => "runTillBlock", "int", "", false;
    }
);

api_dto!(
    /// `POST /api/WorkflowScheduler` (the seed's spelling).
    UpdateWorkfowSchedulerApiDto {
        workflow_id: Option<Uuid> => "workflowId", "guid", "", true;
        is_scheduled: Option<bool> => "isScheduled", "boolean", "", true;
        schedule_frequency: Option<String> => "scheduleFrequency", "string", "", false;
    }
);

api_dto!(
    /// `POST /api/WorkflowTemplate`
    AddWorkflowTemplateApiDto {
        id: Option<Uuid> => "id", "guid", "", false;
        name: Option<String> => "name", "string", "", true;
        description: Option<String> => "description", "string", "", false;
        state: Option<String> => "state", "string", "", false;
        applications: Option<Vec<String>> => "applications", "iEnumerable", "string", true;
        chain: Option<Vec<ChainApiDto>> => "chain", "iEnumerable", "chainApiDto", true;
    }
);

api_dto!(
    /// `POST /api/CancelRun`
    CancelRunApiDto {
        run_id: Option<Uuid> => "runId", "guid", "", true;
    }
);

api_dto!(
    /// `POST /api/FileHubFile`: a file into the account's File Hub.
    StoreFileHubFileApiDto {
        name: Option<String> => "name", "string", "", true;
        content: Option<String> => "content", "string", "", false;
        content_base64: Option<String> => "contentBase64", "string", "", false;
    }
);

/// Every DTO `Describe` answers for.
pub const DTOS: &[(&str, &[FieldSpec])] = &[
    (AddAccountApiDto::NAME, AddAccountApiDto::FIELDS),
    (
        AddRegApplicationApiDto::NAME,
        AddRegApplicationApiDto::FIELDS,
    ),
    (AddWorkflowApiDto::NAME, AddWorkflowApiDto::FIELDS),
    (ChainApiDto::NAME, ChainApiDto::FIELDS),
    (RunMetadataApiDto::NAME, RunMetadataApiDto::FIELDS),
    (
        UpdateWorkfowSchedulerApiDto::NAME,
        UpdateWorkfowSchedulerApiDto::FIELDS,
    ),
    (
        AddWorkflowTemplateApiDto::NAME,
        AddWorkflowTemplateApiDto::FIELDS,
    ),
    (StoreFileHubFileApiDto::NAME, StoreFileHubFileApiDto::FIELDS),
];

pub fn dto_fields(name: &str) -> Option<(&'static str, &'static [FieldSpec])> {
    DTOS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .copied()
}

/// A query parameter: name and seed type name.
#[derive(Debug, Clone, Copy)]
pub struct QuerySpec {
    pub name: &'static str,
    pub type_name: &'static str,
    pub required: bool,
}

/// A query parameter of a route: name, type as GetMetaData spells it, required.
pub const fn query(name: &'static str, type_name: &'static str, required: bool) -> QuerySpec {
    QuerySpec {
        name,
        type_name,
        required,
    }
}

/// One API route, as `GetMetaData` lists it.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: &'static str,
    pub method: Method,
    pub authenticate: bool,
    pub description: &'static str,
    pub returns: &'static str,
    pub query: &'static [QuerySpec],
    /// The body DTO and the parameter's name, as the seed writes them.
    pub body: Option<(&'static str, &'static str)>,
}

impl RouteSpec {
    pub fn path(&self) -> String {
        format!("/api/{}", self.name)
    }

    /// The seed's `parameters` text: `Guid id`, `[FromBody]AddWorkflowApiDto workflow`.
    pub fn parameters(&self) -> String {
        if let Some((dto, param)) = self.body {
            return format!("[FromBody]{dto} {param}");
        }
        let seed_type = |t: &str| match t {
            "guid" => "Guid",
            "int" => "Int32",
            _ => "String",
        };
        self.query
            .iter()
            .map(|q| format!("{} {}", seed_type(q.type_name), q.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
