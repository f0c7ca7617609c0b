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

/// A request body type. A required field is a plain type, an optional one
/// an `Option`: `SPEC.fields` says which are required from the types, and the
/// body extractor enforces it, so the description, the parsing and the
/// handler cannot disagree.
pub trait Dto: DeserializeOwned {
    const SPEC: &'static DtoSpec;
}

/// The Rust type of a DTO field, and the DTO inside it if there is one. A
/// field of a type without this trait does not compile, so a DTO can never
/// hold another that goes undescribed.
pub trait FieldType {
    const DTO: Option<&'static DtoSpec> = None;
    /// An `Option`: the property may be left out (or null).
    const OPTIONAL: bool = false;
}

impl FieldType for String {}
impl FieldType for bool {}
impl FieldType for i64 {}
impl FieldType for Uuid {}
impl FieldType for Map {}

impl<T: FieldType> FieldType for Option<T> {
    const DTO: Option<&'static DtoSpec> = T::DTO;
    const OPTIONAL: bool = true;
}

impl<T: FieldType> FieldType for Vec<T> {
    const DTO: Option<&'static DtoSpec> = T::DTO;
}

macro_rules! api_dto {
    ($(#[$meta:meta])* $name:ident {
        $($field:ident : $ty:ty => $prop:literal, $tname:literal, $generic:literal;)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        pub struct $name {
            $(#[serde(rename = $prop)] pub $field: $ty,)*
        }
        impl Dto for $name {
            const SPEC: &'static DtoSpec = &DtoSpec {
                name: stringify!($name),
                fields: &[$(FieldSpec {
                    type_name: $tname,
                    property: $prop,
                    generic: $generic,
                    // Required exactly when the field is not an `Option`: the
                    // extractor refuses a body without it, and the handler
                    // gets the value itself.
                    required: !<$ty as FieldType>::OPTIONAL,
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
        first_name: String => "firstName", "string", "";
        last_name: String => "lastName", "string", "";
        email: String => "email", "string", "";
        phone: Option<String> => "phone", "string", "";
        role_name: String => "roleName", "string", "";
        country_key: Option<String> => "countryKey", "string", "";
        global_notifications: Option<bool> => "globalNotifications", "boolean", "";
        default_notification_email: Option<String> => "defaultNotificationEmail", "string", "";
        activated: Option<bool> => "activated", "boolean", "";
    }
);

api_dto!(
    /// `POST /api/RegApplication`
    AddRegApplicationApiDto {
        application_id: Uuid => "applicationId", "guid", "";
        tag_text: Option<String> => "tagText", "string", "";
        credentials_json: Option<String> => "credentialsJson", "string", "";
    }
);

api_dto!(
    /// `POST /api/Workflow`
    AddWorkflowApiDto {
        workflow_template_id: Uuid => "workflowTemplateId", "guid", "";
        name: Option<String> => "name", "string", "";
        description: Option<String> => "description", "string", "";
        applications: Map => "applications", "dictionary", "string,guid";
        chain: Option<Vec<ChainApiDto>> => "chain", "iEnumerable", "chainApiDto";
    }
);

api_dto!(
    /// A block of a chain, in `POST Workflow` (overrides) and `POST WorkflowTemplate`.
    ChainApiDto {
        unique_block_id: Option<Uuid> => "uniqueBlockId", "guid", "";
        block_name: Option<String> => "blockName", "string", "";
        variables: Option<Map> => "variables", "dictionary", "string,object";
        datasource: Option<Uuid> => "datasource", "guid", "";
        script: Option<String> => "script", "string", "";
        application: Option<String> => "application", "string", "";
    }
);

api_dto!(
    /// `POST /api/RunWorkflow`
    RunMetadataApiDto {
        workflow_id: Uuid => "workflowId", "guid", "";
        run_from_block: Option<i64> => "runFromBlock", "int", "";
        run_till_block: Option<i64> => "runTillBlock", "int", "";
    }
);

api_dto!(
    /// `POST /api/WorkflowScheduler` (the seed's spelling).
    UpdateWorkfowSchedulerApiDto {
        workflow_id: Uuid => "workflowId", "guid", "";
        is_scheduled: bool => "isScheduled", "boolean", "";
        schedule_frequency: Option<String> => "scheduleFrequency", "string", "";
    }
);

api_dto!(
    /// `POST /api/WorkflowTemplate`
    AddWorkflowTemplateApiDto {
        id: Option<Uuid> => "id", "guid", "";
        name: String => "name", "string", "";
        description: Option<String> => "description", "string", "";
        state: Option<String> => "state", "string", "";
        applications: Vec<String> => "applications", "iEnumerable", "string";
        chain: Vec<ChainApiDto> => "chain", "iEnumerable", "chainApiDto";
    }
);

api_dto!(
    /// `POST /api/CancelRun`
    CancelRunApiDto {
        run_id: Uuid => "runId", "guid", "";
    }
);

api_dto!(
    /// `POST /api/FileHubFile`: a file into the account's File Hub.
    StoreFileHubFileApiDto {
        name: String => "name", "string", "";
        content: Option<String> => "content", "string", "";
        content_base64: Option<String> => "contentBase64", "string", "";
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
