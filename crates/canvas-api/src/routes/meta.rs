//! GetMetaData, Describe and the OpenAPI document, generated from the route
//! table and the DTO definitions.

use super::{Route, dtos};
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::spec::{Content, DtoSpec, FieldSpec};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn get_metadata(State(state): State<AppState>) -> Json<Value> {
    Json(state.metadata.clone())
}

pub async fn describe(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let name = params.text("name").filter(|n| !n.trim().is_empty());
    let name = name.ok_or_else(|| {
        ApiError::BadRequest("name: is required (a DTO name, e.g. AddWorkflowApiDto)".into())
    })?;
    let dto = state
        .dtos
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            let known: Vec<&str> = state.dtos.iter().map(|d| d.name).collect();
            ApiError::NotFound(format!(
                "Unknown object '{name}'; known: {}",
                known.join(", ")
            ))
        })?;
    let items: Vec<Value> = dto
        .fields
        .iter()
        .map(|f| json!({"typeName": f.type_name, "propertyName": f.property, "genericParameters": f.generic, "isRequired": f.required}))
        .collect();
    Ok(Json(Value::Array(items)))
}

pub fn metadata_json(routes: &[Route]) -> Value {
    routes
        .iter()
        .map(|r| {
            let s = &r.spec;
            json!({
                "name": s.name,
                "parameters": s.parameters(),
                "verb": s.method.as_str(),
                "authenticate": s.authenticate,
                "description": s.description,
                "returns": s.returns,
            })
        })
        .collect()
}

/// A field's schema: a reference to the DTO it holds, else its seed type's.
fn field_schema(f: &FieldSpec) -> Value {
    let Some(dto) = f.nested else {
        return schema_of(f.type_name, f.generic);
    };
    let reference = json!({"$ref": format!("#/components/schemas/{}", dto.name)});
    match f.type_name {
        "iEnumerable" => json!({"type": "array", "items": reference}),
        _ => reference,
    }
}

fn schema_of(type_name: &str, generic: &str) -> Value {
    match type_name {
        "guid" => json!({"type": "string", "format": "uuid"}),
        "int" => json!({"type": "integer", "format": "int32"}),
        "boolean" => json!({"type": "boolean"}),
        "dictionary" => {
            let value = generic.split(',').nth(1).unwrap_or("object");
            json!({"type": "object", "additionalProperties": schema_of(value, "")})
        }
        "iEnumerable" => json!({"type": "array", "items": schema_of(generic, "")}),
        "object" => json!({}),
        _ => json!({"type": "string"}),
    }
}

fn dto_schema(dto: &DtoSpec) -> Value {
    let properties: serde_json::Map<String, Value> = dto
        .fields
        .iter()
        .map(|f| (f.property.to_string(), field_schema(f)))
        .collect();
    let required: Vec<&str> = dto
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.property)
        .collect();
    json!({"type": "object", "properties": properties, "required": required})
}

fn success_content(content: Content) -> Value {
    let schema = match content {
        Content::Json => json!({}),
        Content::Bytes => json!({"type": "string", "format": "binary"}),
    };
    json!({content.media_type(): {"schema": schema}})
}

fn operation(r: &Route) -> Value {
    let s = &r.spec;
    let parameters: Vec<Value> = s
        .query
        .iter()
        .map(|q| json!({"name": q.name, "in": "query", "required": q.required, "schema": schema_of(q.type_name, "")}))
        .collect();
    let mut op = json!({
        "operationId": format!("{}{}", s.method.as_str().to_lowercase(), s.name),
        "summary": s.description,
        "parameters": parameters,
        "responses": {
            "200": {"description": s.returns, "content": success_content(s.content)},
            "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    });
    if let Some((dto, _)) = s.body {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", dto.name)}}}});
    }
    if s.authenticate {
        op["security"] = json!([{"consumer": [], "secretKey": []}]);
    }
    op
}

pub fn openapi_json(routes: &[Route]) -> Value {
    let mut paths = serde_json::Map::new();
    for r in routes {
        let entry = paths.entry(r.spec.path()).or_insert_with(|| json!({}));
        entry[r.spec.method.as_str().to_lowercase()] = operation(r);
    }
    let mut schemas: serde_json::Map<String, Value> = dtos(routes)
        .into_iter()
        .map(|dto| (dto.name.to_string(), dto_schema(dto)))
        .collect();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "properties": {"State": {"type": "integer"}, "Msg": {"type": "string"}}, "required": ["State", "Msg"]}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Canvas REST API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "consumer": {"type": "apiKey", "in": "header", "name": "Consumer"},
                "secretKey": {"type": "apiKey", "in": "header", "name": "SecretKey"},
            },
        },
    })
}
