//! Paged reads: page number, offset/limit, cursor and next-link, read until
//! the server says there is no more.

use serde_json::Value;

/// Pages read at most by one block, whatever the server says.
pub(crate) const MAX_PAGES: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Paging {
    None,
    /// `?page=1&pageSize=100`, then 2, 3... until a page is empty or the
    /// reported total is read. A short page is not the end: servers cap
    /// page sizes below what was asked.
    Page {
        param: String,
        start: i64,
        size_param: Option<String>,
        size: Option<usize>,
        total_path: Option<String>,
    },
    /// `?offset=0&limit=100`, then the offset after the records received so
    /// far (a page the server made smaller is followed), until a page is
    /// empty or the reported total is read.
    Offset {
        offset_param: String,
        limit_param: String,
        limit: usize,
        total_path: Option<String>,
    },
    /// The cursor at `path` in each answer goes back as `param` until it is missing.
    Cursor {
        param: String,
        path: String,
    },
    /// The URL at `path` in each answer is the next page until it is missing.
    NextLink {
        path: String,
    },
    /// The `Link` header's `rel="next"` URL (RFC 8288) until there is none.
    LinkHeader,
}

fn text(settings: &Value, key: &str, default: &str) -> String {
    settings[key].as_str().unwrap_or(default).to_string()
}

impl Paging {
    /// From the block's `pagination` variable, e.g. `{"type": "offset", "limit": 500}`.
    pub fn from_variable(settings: Option<&Value>) -> Result<Self, String> {
        let Some(settings) = settings.filter(|v| !v.is_null()) else {
            return Ok(Self::None);
        };
        let size = |key: &str| -> Result<Option<usize>, String> {
            match &settings[key] {
                Value::Null => Ok(None),
                v => v
                    .as_u64()
                    .filter(|n| *n > 0)
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| {
                        format!("variable 'pagination': '{key}' must be a positive whole number")
                    }),
            }
        };
        Ok(match settings["type"].as_str().unwrap_or_default() {
            "page" => Self::Page {
                param: text(settings, "param", "page"),
                start: settings["start"].as_i64().unwrap_or(1),
                size_param: settings["sizeParam"].as_str().map(str::to_string),
                size: size("size")?,
                total_path: settings["totalPath"].as_str().map(str::to_string),
            },
            "offset" => Self::Offset {
                offset_param: text(settings, "offsetParam", "offset"),
                limit_param: text(settings, "limitParam", "limit"),
                limit: size("limit")?.unwrap_or(100),
                total_path: settings["totalPath"].as_str().map(str::to_string),
            },
            "cursor" => Self::Cursor {
                param: text(settings, "param", "cursor"),
                path: settings["cursorPath"]
                    .as_str()
                    .ok_or("variable 'pagination': a cursor needs 'cursorPath', where the answer holds the next cursor")?
                    .to_string(),
            },
            "nextLink" => Self::NextLink {
                path: text(settings, "nextPath", "next"),
            },
            "linkHeader" => Self::LinkHeader,
            other => {
                return Err(format!(
                    "variable 'pagination': type '{other}' is not one of page, offset, cursor, nextLink, linkHeader"
                ));
            }
        })
    }

    /// Pages are addressed by number or offset we compute (a page past the
    /// last may be answered 404), not by a link or cursor the server gave.
    pub fn numbered(&self) -> bool {
        matches!(self, Self::Page { .. } | Self::Offset { .. })
    }

    /// The query parameters of the first page.
    pub fn first(&self) -> Vec<(String, String)> {
        match self {
            Self::Page {
                param,
                start,
                size_param,
                size,
                ..
            } => {
                let mut q = vec![(param.clone(), start.to_string())];
                if let (Some(p), Some(s)) = (size_param, size) {
                    q.push((p.clone(), s.to_string()));
                }
                q
            }
            Self::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => vec![
                (offset_param.clone(), "0".into()),
                (limit_param.clone(), limit.to_string()),
            ],
            Self::None | Self::Cursor { .. } | Self::NextLink { .. } | Self::LinkHeader => {
                Vec::new()
            }
        }
    }

    /// What to ask next after page `read.page` brought `read.count`
    /// records (`read.so_far` in all) and answered `body`: new query
    /// parameters, or a URL; `None` when there is no more.
    pub fn next(&self, read: PageRead, (body, link): (&Value, Option<&str>)) -> Option<Next> {
        let done = |total_path: &Option<String>| {
            let total = total_path.as_deref().and_then(|p| at(body, p)?.as_u64());
            read.count == 0 || total.is_some_and(|t| read.so_far as u64 >= t)
        };
        match self {
            Self::None => None,
            Self::Page {
                param,
                start,
                size_param,
                size,
                total_path,
            } => (!done(total_path)).then(|| {
                let mut q = vec![(param.clone(), (start + read.page as i64).to_string())];
                if let (Some(p), Some(s)) = (size_param, size) {
                    q.push((p.clone(), s.to_string()));
                }
                Next::Query(q)
            }),
            Self::Offset {
                offset_param,
                limit_param,
                limit,
                total_path,
            } => (!done(total_path)).then(|| {
                Next::Query(vec![
                    (offset_param.clone(), read.so_far.to_string()),
                    (limit_param.clone(), limit.to_string()),
                ])
            }),
            Self::Cursor { param, path } => {
                let cursor = at(body, path).and_then(scalar_text)?;
                Some(Next::Query(vec![(param.clone(), cursor)]))
            }
            Self::NextLink { path } => at(body, path).and_then(scalar_text).map(Next::Url),
            Self::LinkHeader => link.and_then(next_in_link_header).map(Next::Url),
        }
    }
}

/// How far a paged read has come: the page just read (1-based), the
/// records it brought, and the records read in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRead {
    pub page: usize,
    pub count: usize,
    pub so_far: usize,
}

/// The `rel="next"` target of a `Link` header:
/// `<https://api.example.com/items?page=2>; rel="next", <...>; rel="last"`.
pub(crate) fn next_in_link_header(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

pub(crate) enum Next {
    Query(Vec<(String, String)>),
    Url(String),
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A value by path (`data.items`, `$.data.items`, `results.0.rows`): the
/// one syntax of `canvas_domain::path`.
pub(crate) use canvas_domain::path::field as at;

/// The records an answer holds: the array at `path` (or the answer itself),
/// an object as one record.
pub(crate) fn records(body: &Value, path: Option<&str>) -> Result<Vec<Value>, String> {
    let found = match path {
        Some(p) => at(body, p).ok_or_else(|| format!("the answer has nothing at '{p}'"))?,
        None => body,
    };
    Ok(match found {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(page: usize, count: usize, so_far: usize) -> PageRead {
        PageRead {
            page,
            count,
            so_far,
        }
    }

    #[test]
    fn pages_go_on_past_a_short_page_until_an_empty_one_or_the_total() {
        let p = Paging::from_variable(Some(
            &json!({"type": "page", "sizeParam": "size", "size": 2}),
        ))
        .unwrap();
        assert_eq!(
            p.first(),
            vec![("page".into(), "1".into()), ("size".into(), "2".into())]
        );
        assert!(
            matches!(p.next(read(1, 2, 2), (&json!({}), None)), Some(Next::Query(q)) if q[0].1 == "2")
        );
        assert!(
            matches!(p.next(read(2, 1, 3), (&json!({}), None)), Some(Next::Query(q)) if q[0].1 == "3")
        );
        assert!(p.next(read(3, 0, 3), (&json!({}), None)).is_none());
        let o = Paging::from_variable(Some(
            &json!({"type": "offset", "limit": 500, "totalPath": "meta.total"}),
        ))
        .unwrap();
        let body = json!({"meta": {"total": 237}});
        assert!(
            matches!(o.next(read(1, 100, 100), (&body, None)), Some(Next::Query(q)) if q[0] == ("offset".into(), "100".into())),
            "a page the server capped at 100 is followed"
        );
        assert!(
            o.next(read(3, 37, 237), (&body, None)).is_none(),
            "the total is read"
        );
    }

    #[test]
    fn cursors_and_links_are_read_from_the_answer() {
        let c = Paging::from_variable(Some(&json!({"type": "cursor", "cursorPath": "meta.next"})))
            .unwrap();
        assert!(
            matches!(c.next(read(1, 5, 5), (&json!({"meta": {"next": "abc"}}), None)), Some(Next::Query(q)) if q[0] == ("cursor".into(), "abc".into()))
        );
        assert!(
            c.next(read(1, 5, 5), (&json!({"meta": {"next": null}}), None))
                .is_none()
        );
        let n = Paging::from_variable(Some(&json!({"type": "nextLink", "nextPath": "links.next"})))
            .unwrap();
        assert!(
            matches!(n.next(read(1, 5, 5), (&json!({"links": {"next": "http://x/2"}}), None)), Some(Next::Url(u)) if u == "http://x/2")
        );
        assert!(
            Paging::from_variable(Some(&json!({"type": "pages"})))
                .unwrap_err()
                .contains("'pages'")
        );
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let header = r#"<https://a.example/items?page=3>; rel="last", <https://a.example/items?page=2>; rel="next""#;
        assert_eq!(
            next_in_link_header(header).as_deref(),
            Some("https://a.example/items?page=2")
        );
        assert_eq!(
            next_in_link_header(r#"<https://a.example/x>; rel="prev""#),
            None
        );
        let l = Paging::from_variable(Some(&json!({"type": "linkHeader"}))).unwrap();
        assert!(
            matches!(l.next(read(1, 5, 5), (&json!({}), Some(header))), Some(Next::Url(u)) if u.ends_with("page=2"))
        );
        assert!(l.next(read(1, 5, 5), (&json!({}), None)).is_none());
    }

    #[test]
    fn records_are_found_by_path() {
        let body = json!({"data": {"items": [{"a": 1}, {"a": 2}]}, "list": [[{"b": 1}]]});
        assert_eq!(records(&body, Some("$.data.items")).unwrap().len(), 2);
        assert_eq!(
            records(&body, Some("list.0")).unwrap(),
            vec![json!({"b": 1})]
        );
        assert!(records(&body, Some("nope")).is_err());
    }
}
