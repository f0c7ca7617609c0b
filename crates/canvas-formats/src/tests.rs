use super::*;
use serde_json::json;

fn format(vars: Value) -> FileFormat {
    FileFormat::from_variables(vars.as_object().unwrap()).unwrap()
}

/// Writes `records` in two batches, taking bytes between them as a sender would.
fn render(format: &FileFormat, records: &[Value]) -> Vec<u8> {
    let mut writer = format.writer();
    let (a, b) = records.split_at(records.len() / 2);
    writer.write(a).unwrap();
    let mut bytes = writer.take();
    writer.write(b).unwrap();
    bytes.extend(writer.take());
    bytes.extend(writer.finish().unwrap());
    bytes
}

fn people() -> Vec<Value> {
    vec![
        json!({"id": "1", "name": "Ådne, \"the\" <first>", "city": "Tromsø"}),
        json!({"id": "2", "name": "Bo", "city": ""}),
        json!({"id": "3", "name": "Cé\nline", "city": "Paris"}),
    ]
}

#[test]
fn every_text_format_round_trips_records() {
    for vars in [
        json!({}),
        json!({"fileformat": "csv", "delimiter": ";", "encoding": "ISO-8859-1"}),
        json!({"fileformat": "json"}),
        json!({"fileformat": "ndjson"}),
        json!({"fileformat": "xml", "recordElement": "person"}),
    ] {
        let f = format(vars.clone());
        let bytes = render(&f, &people());
        assert_eq!(f.parse("people", &bytes).unwrap(), people(), "{vars}");
    }
}

#[test]
fn csv_is_written_with_a_header_and_quoted_where_needed() {
    let bytes = render(&format(json!({})), &people()[..2]);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "id,name,city\n1,\"Ådne, \"\"the\"\" <first>\",Tromsø\n2,Bo,\n"
    );
}

#[test]
fn latin1_csv_has_one_byte_per_character() {
    let f = format(json!({"encoding": "iso-8859-1"}));
    let bytes = render(&f, &[json!({"by": "Tromsø"})]);
    assert_eq!(bytes, b"by\nTroms\xF8\n");
    let err = f.writer().write(&[json!({"x": "€"})]).unwrap_err();
    assert_eq!(err.record, 1);
    assert!(err.problem.contains("ISO-8859-1"), "{err}");
}

#[test]
fn csv_without_a_header_names_columns_by_position() {
    let f = format(json!({"header": false}));
    let rows = f.parse("a.csv", b"x,y\nz,w\n").unwrap();
    assert_eq!(rows[1], json!({"column1": "z", "column2": "w"}));
}

#[test]
fn parse_errors_name_the_file_and_where() {
    let csv = format(json!({})).parse("in.csv", b"a,b\n1,2\n3,4,5\n");
    assert_eq!(
        csv.unwrap_err().to_string(),
        "in.csv: line 3: 3 columns where the header has 2"
    );
    let utf8 = format(json!({})).parse("in.csv", b"a\nok\nTroms\xF8\n");
    assert!(
        utf8.unwrap_err()
            .to_string()
            .starts_with("in.csv: line 3, column 1: the bytes are not UTF-8")
    );
    let json = format(json!({"fileformat": "json"})).parse("in.json", b"[{\"a\": 1},\n {\"a\": }]");
    assert!(
        json.unwrap_err()
            .to_string()
            .starts_with("in.json: line 2, column 8: "),
    );
    let nd =
        format(json!({"fileformat": "ndjson"})).parse("in.ndjson", b"{\"a\":1}\n\n{\"a\":2,}\n");
    assert!(
        nd.unwrap_err()
            .to_string()
            .starts_with("in.ndjson: line 3, column ")
    );
    let xml =
        format(json!({"fileformat": "xml"})).parse("in.xml", b"<r>\n<record><a>1</b></record></r>");
    assert!(
        xml.unwrap_err()
            .to_string()
            .starts_with("in.xml: line 2, column "),
    );
}

#[test]
fn xml_nests_records_and_repeats_lists() {
    let f = format(json!({"fileformat": "xml", "recordElement": "order", "rootElement": "orders"}));
    let order = json!({"id": "7", "customer": {"name": "A & B"}, "line": ["x", "y"]});
    let bytes = render(&f, std::slice::from_ref(&order));
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("<orders>\n  <order><id>7</id><customer><name>A &amp; B</name></customer><line>x</line><line>y</line></order>"), "{text}");
    assert_eq!(f.parse("o.xml", &bytes).unwrap(), vec![order]);
}

#[test]
fn bad_options_name_the_variable() {
    let err = FileFormat::from_variables(json!({"fileformat": "pdf"}).as_object().unwrap());
    assert_eq!(
        err.unwrap_err().to_string(),
        "variable 'fileformat': 'pdf' is not one of csv, json, ndjson, xml, xlsx"
    );
    let err = FileFormat::from_variables(json!({"delimiter": ";;"}).as_object().unwrap());
    assert_eq!(err.unwrap_err().variable, "delimiter");
    let err = FileFormat::from_variables(json!({"encoding": "utf-16"}).as_object().unwrap());
    assert_eq!(err.unwrap_err().variable, "encoding");
}

#[test]
fn xlsx_round_trips_records_with_their_types() {
    let f = format(json!({"fileformat": "xlsx", "sheet": "People"}));
    let records = vec![
        json!({"id": 1, "name": "Ådne", "score": 2.5, "ok": true}),
        json!({"id": 2, "name": "Bo", "score": null, "ok": false}),
    ];
    let bytes = render(&f, &records);
    assert_eq!(&bytes[..2], b"PK");
    let back = f.parse("p.xlsx", &bytes).unwrap();
    assert_eq!(back[0], records[0]);
    assert_eq!(
        back[1],
        json!({"id": 2, "name": "Bo", "score": null, "ok": false})
    );
    let first = format(json!({"fileformat": "xlsx"}));
    assert_eq!(first.parse("p.xlsx", &bytes).unwrap().len(), 2);
    let missing = format(json!({"fileformat": "xlsx", "sheet": "Nope"})).parse("p.xlsx", &bytes);
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .starts_with("p.xlsx: sheet 'Nope'")
    );
    let not_xlsx = first.parse("p.xlsx", b"a,b\n1,2\n");
    assert!(
        not_xlsx
            .unwrap_err()
            .to_string()
            .starts_with("p.xlsx: not an XLSX workbook")
    );
}

#[test]
fn big_files_stream_in_batches_of_a_thousand() {
    let mut csv = String::from("id;name\n");
    for i in 0..2500 {
        csv.push_str(&format!("{i};n{i}\n"));
    }
    let f = format(json!({"delimiter": ";"}));
    let sizes: Vec<usize> = f
        .batches("big.csv", std::io::Cursor::new(csv.into_bytes()))
        .map(|b| b.unwrap().len())
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    let latin = format(json!({"encoding": "ISO-8859-1"}));
    let rows: Vec<Value> = latin
        .batches("l.csv", std::io::Cursor::new(b"by\nTroms\xF8\n".to_vec()))
        .flat_map(|b| b.unwrap())
        .collect();
    assert_eq!(rows, vec![json!({"by": "Tromsø"})]);
    let mut batches =
        format(json!({})).batches("bad.csv", std::io::Cursor::new(b"a,b\n1\n".to_vec()));
    assert_eq!(
        batches.next().unwrap().unwrap_err().to_string(),
        "bad.csv: line 2: 1 columns where the header has 2"
    );
}
