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
    /// The DTO the field holds (itself or as the items of a list), taken
    /// from the field's Rust type: it is described wherever this one is.
    pub nested: Option<&'static DtoSpec>,
}

/// A DTO as `Describe` and `components.schemas` present it.
#[derive(Debug)]
pub struct DtoSpec {
    pub name: &'static str,
    pub fields: &'static [FieldSpec],
}

/// A request body type. Every field is optional in Rust; `SPEC.fields` says
/// which are required and the body extractor enforces it, so the description
/// and the parsing cannot disagree.
pub trait Dto: DeserializeOwned {
    const SPEC: &'static DtoSpec;
}

/// The Rust type of a DTO field, and the DTO inside it if there is one. A
/// field of a type without this trait does not compile, so a DTO can never
/// hold another that goes undescribed.
pub trait FieldType {
    const DTO: Option<&'static DtoSpec> = None;
}

impl FieldType for String {}
impl FieldType for bool {}
impl FieldType for i64 {}
impl FieldType for Uuid {}
impl FieldType for Map {}

impl<T: FieldType> FieldType for Option<T> {
    const DTO: Option<&'static DtoSpec> = T::DTO;
}

impl<T: FieldType> FieldType for Vec<T> {
    const DTO: Option<&'static DtoSpec> = T::DTO;
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
            const SPEC: &'static DtoSpec = &DtoSpec {
                name: stringify!($name),
                fields: &[$(FieldSpec {
                    type_name: $tname,
                    property: $prop,
                    generic: $generic,
                    required: $req,
                    nested: <$ty as FieldType>::DTO,
                }),*],
            };
        }
        impl FieldType for $name {
            const DTO: Option<&'static DtoSpec> = Some(<$name as Dto>::SPEC);
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

/// Every DTO the bodies name and every DTO their fields hold, each once, in
/// the order first met: what `Describe` answers for and what the OpenAPI
/// document's `components.schemas` lists, so neither can miss one.
pub fn dtos_of<'a>(bodies: impl IntoIterator<Item = &'a DtoSpec>) -> Vec<&'a DtoSpec> {
    fn visit<'a>(dto: &'a DtoSpec, seen: &mut Vec<&'a DtoSpec>) {
        if seen.iter().any(|d| d.name == dto.name) {
            return;
        }
        seen.push(dto);
        for nested in dto.fields.iter().filter_map(|f| f.nested) {
            visit(nested, seen);
        }
    }
    let mut seen = Vec::new();
    for body in bodies {
        visit(body, &mut seen);
    }
    seen
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
    pub body: Option<(&'static DtoSpec, &'static str)>,
    /// What a successful answer carries.
    pub content: Content,
}

/// The media type of a successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Json,
    /// A file's bytes, as `application/octet-stream`.
    Bytes,
}

impl Content {
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Bytes => "application/octet-stream",
        }
    }
}

impl RouteSpec {
    pub fn path(&self) -> String {
        format!("/api/{}", self.name)
    }

    /// The seed's `parameters` text: `Guid id`, `[FromBody]AddWorkflowApiDto workflow`.
    pub fn parameters(&self) -> String {
        if let Some((dto, param)) = self.body {
            return format!("[FromBody]{} {param}", dto.name);
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
