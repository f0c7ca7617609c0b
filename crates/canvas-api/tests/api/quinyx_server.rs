//! A Quinyx stand-in (NuSOAP, SOAP 1.1 RPC/encoded), written from
//! `vendors.md` §2: every call a POST of a `text/xml` envelope with
//! `SOAPAction`, the key as the first, typed parameter; a bad key is an
//! HTTP 500 Fault (`SOAP-ENV:Client`, `Invalid apiKey`); above 10 calls in
//! flight — or while `busy` says other clients hold the slots — 429.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A group key covering employees 1–3, and a unit key covering 2 and 4.
pub const GROUP_KEY: &str = "1111-1111-1111-1111";
pub const UNIT_KEY: &str = "2222-2222-2222-2222";

#[derive(Default)]
pub struct Seen {
    in_flight: AtomicUsize,
    /// The next this many calls are answered 429.
    pub busy: AtomicUsize,
    /// Each call: its method and key, and 429 when it was refused.
    pub calls: Mutex<Vec<String>>,
}

pub struct Quinyx {
    pub base: String,
    pub seen: Arc<Seen>,
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = xml.find(&format!("<{name} "))?;
    let start = open + xml[open..].find('>')? + 1;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

fn fault(words: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode xsi:type=\"xsd:string\">SOAP-ENV:Client</faultcode><faultstring xsi:type=\"xsd:string\">{words}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/xml")],
        xml,
    )
        .into_response()
}

fn employee(id: u32) -> String {
    let (given, family) = [
        ("Kari", "Nordmann"),
        ("Ola", "Hansen"),
        ("Siri", "Berg"),
        ("Per", "Lie"),
    ][id as usize - 1];
    let active = if id == 3 { 0 } else { 1 };
    format!(
        "<item xsi:type=\"tns:Employee\"><id xsi:type=\"xsd:int\">{id}</id><badgeNo xsi:type=\"xsd:string\">B-{id}</badgeNo>\
<givenName xsi:type=\"xsd:string\">{given}</givenName><familyName xsi:type=\"xsd:string\">{family}</familyName>\
<active xsi:type=\"xsd:boolean\">{active}</active><leaveDate xsi:type=\"xsd:date\">0000-00-00</leaveDate>\
<employedDate xsi:type=\"xsd:date\">2020-01-1{id}</employedDate><ts xsi:type=\"xsd:dateTime\">2024-05-02T10:15:0{id}+02:00</ts></item>"
    )
}

fn answer(method: &str, items: &[u32]) -> Response {
    let items: String = items.iter().map(|id| employee(*id)).collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:SOAP-ENC=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:tns=\"https://api.quinyx.com/soap/FlexForce\"><SOAP-ENV:Body><ns1:{method}Response xmlns:ns1=\"uri:FlexForce\"><return xsi:type=\"SOAP-ENC:Array\" SOAP-ENC:arrayType=\"tns:Employee[{}]\">{items}</return></ns1:{method}Response></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        items.len()
    );
    ([("content-type", "text/xml; charset=ISO-8859-1")], xml).into_response()
}

/// What the service checks of a call: the envelope's media type and
/// `SOAPAction`, the method, and the key as the first typed parameter.
fn call(headers: &HeaderMap, body: &str) -> Result<(String, String), Box<Response>> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let bad = |why: &str| {
        Err(Box::new(
            (StatusCode::BAD_REQUEST, why.to_string()).into_response(),
        ))
    };
    if !header("content-type").starts_with("text/xml") || header("soapaction").is_empty() {
        return bad("a SOAP 1.1 call is text/xml with a SOAPAction");
    }
    let Some(method) = ["wsdlGetEmployees", "wsdlGetUnits"]
        .into_iter()
        .find(|m| body.contains(&format!("<uri:{m} ")))
    else {
        return Err(Box::new(fault("Unknown method")));
    };
    let first_param = body
        .find("encoding/\">")
        .map(|i| &body[i + 11..])
        .unwrap_or_default();
    if !first_param.starts_with("<apiKey xsi:type=\"xsd:string\">") {
        return Err(Box::new(fault(
            "apiKey must be the first parameter, typed xsd:string",
        )));
    }
    let key = element(body, "apiKey").unwrap_or_default().to_string();
    Ok((method.to_string(), key))
}

async fn service(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: String) -> Response {
    let (method, key) = match call(&headers, &body) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let busy = seen
        .busy
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
        .is_ok();
    let refused = now > 10 || busy;
    seen.calls.lock().unwrap().push(format!(
        "{method} {key}{}",
        if refused { " 429" } else { "" }
    ));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    if refused {
        return (StatusCode::TOO_MANY_REQUESTS, "Too many concurrent calls").into_response();
    }
    let employees: &[u32] = match key.as_str() {
        GROUP_KEY => &[1, 2, 3],
        UNIT_KEY => &[2, 4],
        _ => return fault("Invalid apiKey"),
    };
    if method == "wsdlGetUnits" {
        return answer(&method, &[]);
    }
    let badge = element(&body, "badgeNo").unwrap_or_default();
    let kept: Vec<u32> = employees
        .iter()
        .copied()
        .filter(|id| badge.is_empty() || badge == format!("B-{id}"))
        .collect();
    answer(&method, &kept)
}

pub async fn start() -> Quinyx {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/FlexForceWebServices.php", post(service))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Quinyx { base, seen }
}
