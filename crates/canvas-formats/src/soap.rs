//! SOAP 1.1 RPC/encoded, as NuSOAP services speak it (Quinyx): a call's
//! envelope with each parameter typed (`xsi:type`), and the answer's
//! `return` made JSON by the types it carries (`vendors.md` §2).

use quick_xml::Reader;
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

/// The envelope of a call of `method` in `namespace`, its parameters in
/// order: text → `xsd:string`, whole numbers → `xsd:int`, other numbers →
/// `xsd:decimal`, booleans → `xsd:boolean`, null → `xsi:nil`.
pub fn envelope(
    namespace: &str,
    method: &str,
    params: &Map<String, Value>,
) -> Result<String, String> {
    let mut body = String::new();
    for (name, value) in params {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
            return Err(format!("parameter '{name}' is not a name"));
        }
        let (kind, text) = match value {
            Value::String(s) => ("xsd:string", escape(s.as_str()).into_owned()),
            Value::Number(n) if n.is_i64() || n.is_u64() => ("xsd:int", n.to_string()),
            Value::Number(n) => ("xsd:decimal", n.to_string()),
            Value::Bool(b) => ("xsd:boolean", b.to_string()),
            Value::Null => {
                body += &format!("<{name} xsi:nil=\"true\"/>");
                continue;
            }
            _ => {
                return Err(format!(
                    "parameter '{name}' must be text, a number, a boolean or null"
                ));
            }
        };
        body += &format!("<{name} xsi:type=\"{kind}\">{text}</{name}>");
    }
    let ns = escape(namespace);
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
xmlns:uri=\"{ns}\"><soapenv:Body><uri:{method} soapenv:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\
{body}</uri:{method}></soapenv:Body></soapenv:Envelope>"
    ))
}

/// An element of the answer: local name, `xsi:type`, nil, text, children.
#[derive(Default)]
struct Node {
    name: String,
    kind: Option<String>,
    nil: bool,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn open(start: &BytesStart<'_>) -> Result<Self, String> {
        let mut node = Node {
            name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
            ..Node::default()
        };
        for attr in start.attributes() {
            let attr = attr.map_err(|e| e.to_string())?;
            let value = attr.unescape_value().map_err(|e| e.to_string())?;
            match attr.key.local_name().as_ref() {
                b"type" => node.kind = Some(value.into_owned()),
                b"nil" => node.nil = value == "true" || value == "1",
                _ => {}
            }
        }
        Ok(node)
    }

    fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Answers nest a few levels (envelope, body, response, return, array,
/// struct, field); anything deeper is refused before it can exhaust the stack.
const MAX_DEPTH: usize = 64;

/// `bytes` as UTF-8 text: NuSOAP answers in ISO-8859-1 by default, as its
/// XML declaration (or nothing) says.
fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(100)]).to_ascii_lowercase();
    let declared_latin1 = head.starts_with("<?xml")
        && head
            .split("?>")
            .next()
            .is_some_and(|d| d.contains("iso-8859-1"));
    match declared_latin1 || std::str::from_utf8(bytes).is_err() {
        true => bytes
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .into_bytes()
            .into(),
        false => bytes.into(),
    }
}

fn tree(bytes: &[u8]) -> Result<Node, String> {
    let text = utf8(bytes);
    let mut reader = Reader::from_reader(text.as_ref());
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut open = vec![Node::default()];
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("the answer is not XML: {e}"))?
        {
            Event::Start(e) => {
                if open.len() > MAX_DEPTH {
                    return Err(format!("the answer nests deeper than {MAX_DEPTH} elements"));
                }
                open.push(Node::open(&e)?);
            }
            Event::Empty(e) => {
                let node = Node::open(&e)?;
                open.last_mut().ok_or("unbalanced XML")?.children.push(node);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| e.to_string())?;
                open.last_mut()
                    .ok_or("unbalanced XML")?
                    .text
                    .push_str(&text);
            }
            Event::CData(t) => {
                open.last_mut()
                    .ok_or("unbalanced XML")?
                    .text
                    .push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(_) => {
                let node = open.pop().ok_or("unbalanced XML")?;
                open.last_mut().ok_or("unbalanced XML")?.children.push(node);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    open.into_iter()
        .next()
        .ok_or_else(|| "empty answer".to_string())
}

/// A SOAP Fault in `bytes`: its `faultcode` and `faultstring`.
pub fn fault(bytes: &[u8]) -> Option<(String, String)> {
    let root = tree(bytes).ok()?;
    let fault = root.find("Fault")?;
    let text = |n: &str| {
        fault
            .find(n)
            .map(|x| x.text.trim().to_string())
            .unwrap_or_default()
    };
    Some((text("faultcode"), text("faultstring")))
}

/// The `return` of `<method>Response` as JSON, by the `xsi:type`s it carries.
pub fn answer(bytes: &[u8], method: &str) -> Result<Value, String> {
    let root = tree(bytes)?;
    let response = root
        .find(&format!("{method}Response"))
        .ok_or_else(|| format!("the answer has no {method}Response"))?;
    Ok(match response.children.first() {
        Some(returned) => json_of(returned),
        None => Value::Null,
    })
}

fn json_of(node: &Node) -> Value {
    if node.nil {
        return Value::Null;
    }
    let kind = node.kind.as_deref().unwrap_or_default();
    let local = kind.rsplit(':').next().unwrap_or_default();
    let text = node.text.trim();
    match local {
        "Array" => Value::Array(node.children.iter().map(json_of).collect()),
        "int" | "integer" | "long" | "short" | "decimal" | "double" | "float" => number(text),
        "boolean" => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => Value::Null,
        },
        "date" => date(text),
        "dateTime" => date_time(text),
        "string" => Value::String(node.text.clone()),
        _ if !node.children.is_empty() => Value::Object(
            node.children
                .iter()
                .map(|c| (c.name.clone(), json_of(c)))
                .collect(),
        ),
        _ => Value::String(node.text.clone()),
    }
}

fn number(text: &str) -> Value {
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn date(text: &str) -> Value {
    let day = text.get(..10).unwrap_or(text);
    match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        Ok(d) => Value::String(d.to_string()),
        Err(_) => Value::Null,
    }
}

/// ISO 8601 UTC; a time without an offset is taken as UTC; empty or zero → null.
fn date_time(text: &str) -> Value {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let at = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
                .map(|t| t.and_utc())
        });
    match at {
        Some(at) if at.timestamp_subsec_millis() == 0 => {
            Value::String(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        Some(at) => Value::String(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_types_each_parameter_in_order() {
        let params =
            json!({"apiKey": "k<1>", "sectionId": 0, "active": true, "rate": 1.5, "note": null});
        let xml = envelope(
            "uri:FlexForce",
            "wsdlGetEmployees",
            params.as_object().unwrap(),
        )
        .unwrap();
        assert!(xml.contains("<uri:wsdlGetEmployees soapenv:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\
<apiKey xsi:type=\"xsd:string\">k&lt;1&gt;</apiKey><sectionId xsi:type=\"xsd:int\">0</sectionId>\
<active xsi:type=\"xsd:boolean\">true</active><rate xsi:type=\"xsd:decimal\">1.5</rate><note xsi:nil=\"true\"/>"), "{xml}");
        let bad = json!({"a b": 1});
        assert!(envelope("uri:X", "m", bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn an_answer_becomes_json_by_its_types() {
        let xml = r#"<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:tns="https://api.quinyx.com/soap/FlexForce"><SOAP-ENV:Body><ns1:wsdlGetEmployeesResponse xmlns:ns1="uri:FlexForce"><return xsi:type="SOAP-ENC:Array" SOAP-ENC:arrayType="tns:Employee[1]"><item xsi:type="tns:Employee"><id xsi:type="xsd:int">7</id><badgeNo xsi:type="xsd:string">B-7</badgeNo><address2 xsi:type="xsd:string"></address2><active xsi:type="xsd:boolean">1</active><leaveDate xsi:type="xsd:date">0000-00-00</leaveDate><dateOfBirth xsi:type="xsd:date">1990-02-03</dateOfBirth><ts xsi:type="xsd:dateTime">2024-05-02T10:15:00+02:00</ts><info xsi:nil="true"/><additionalFields xsi:type="SOAP-ENC:Array"><item xsi:type="tns:AdditionalField"><key xsi:type="xsd:string">shoe</key><value xsi:type="xsd:string">42</value></item></additionalFields></item></return></ns1:wsdlGetEmployeesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        assert_eq!(
            answer(xml.as_bytes(), "wsdlGetEmployees").unwrap(),
            json!([{"id": 7, "badgeNo": "B-7", "address2": "", "active": true, "leaveDate": null,
                    "dateOfBirth": "1990-02-03", "ts": "2024-05-02T08:15:00Z", "info": null,
                    "additionalFields": [{"key": "shoe", "value": "42"}]}])
        );
    }

    #[test]
    fn latin1_answers_are_read_and_deep_ones_refused() {
        let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r><mResponse><return xsi:type=\"xsd:string\">Bj".to_vec();
        xml.push(0xF8);
        xml.extend_from_slice(b"rn</return></mResponse></r>");
        assert_eq!(answer(&xml, "m").unwrap(), json!("Bjørn"));
        let deep = "<a>".repeat(100_000);
        assert!(answer(deep.as_bytes(), "m").unwrap_err().contains("deeper"));
        assert_eq!(fault(deep.as_bytes()), None);
    }

    #[test]
    fn a_fault_says_its_code_and_words() {
        let xml = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>Invalid apiKey</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        assert_eq!(
            fault(xml.as_bytes()),
            Some(("SOAP-ENV:Client".into(), "Invalid apiKey".into()))
        );
        assert_eq!(fault(b"<a/>"), None);
    }
}
