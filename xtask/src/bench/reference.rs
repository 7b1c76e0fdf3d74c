//! The reference: minimal raw `reqwest` loops with `serde_json`, no haul.
//! The `RawValue` loops (records kept as borrowed raw JSON, as haul keeps
//! them) set the limit haul is measured against; the `Value` loops, which
//! build a tree per page, are context.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::options::PAGE_SIZE;
use super::sample::Sample;

/// Walks `/items` by cursor, one page after the other, parsing every page
/// into a `serde_json::Value`.
pub(crate) async fn sequential(base: &Url) -> Result<Sample, String> {
    let client = reqwest::Client::new();
    let first = format!("{}items?limit={PAGE_SIZE}", base);
    let started = Instant::now();
    let mut url = first.clone();
    let (mut records, mut requests) = (0u64, 0u64);
    loop {
        let page = get_json(&client, &url).await?;
        requests += 1;
        records += count(&page, "data");
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(cursor) => url = format!("{first}&cursor={cursor}"),
            None => break,
        }
    }
    Ok(Sample {
        records,
        requests,
        elapsed: started.elapsed(),
    })
}

/// Walks `/items` by cursor like [`sequential`], but deserializes each page
/// into a typed struct holding the records as borrowed raw JSON: the least
/// a loop must do to find the records and the cursor (the transport ceiling).
pub(crate) async fn sequential_raw_value(base: &Url) -> Result<Sample, String> {
    #[derive(serde::Deserialize)]
    struct CursorPage<'a> {
        #[serde(borrow)]
        data: Vec<&'a RawValue>,
        next_cursor: Option<String>,
    }
    let client = reqwest::Client::new();
    let first = format!("{}items?limit={PAGE_SIZE}", base);
    let started = Instant::now();
    let mut url = first.clone();
    let (mut records, mut requests) = (0u64, 0u64);
    loop {
        let body = get_bytes(&client, &url).await?;
        let page: CursorPage<'_> =
            serde_json::from_slice(&body).map_err(|e| format!("reference GET {url}: {e}"))?;
        requests += 1;
        records += page.data.len() as u64;
        match page.next_cursor {
            Some(cursor) => url = format!("{first}&cursor={cursor}"),
            None => break,
        }
    }
    Ok(Sample {
        records,
        requests,
        elapsed: started.elapsed(),
    })
}

/// Reads `/offset` from `start`: the first page for the total, then every
/// remaining page with `buffer_unordered(k)`, parsing every page into a
/// `serde_json::Value` (context: a CPU-bound loop).
pub(crate) async fn concurrent(base: &Url, start: usize, k: usize) -> Result<Sample, String> {
    concurrent_with(base, start, k, |body| {
        let page: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok((
            count(&page, "results"),
            page.get("total").and_then(Value::as_u64),
        ))
    })
    .await
}

/// Like [`concurrent`], but each page is deserialized into a typed struct
/// holding the records as borrowed raw JSON, as haul keeps them: the
/// reference of every concurrency target.
pub(crate) async fn concurrent_raw_value(
    base: &Url,
    start: usize,
    k: usize,
) -> Result<Sample, String> {
    #[derive(serde::Deserialize)]
    struct OffsetPage<'a> {
        #[serde(borrow)]
        results: Vec<&'a RawValue>,
        total: Option<u64>,
    }
    concurrent_with(base, start, k, |body| {
        let page: OffsetPage<'_> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok((page.results.len() as u64, page.total))
    })
    .await
}

/// Parses an `/offset` page into its record count and total.
type ParsePage = fn(&[u8]) -> Result<(u64, Option<u64>), String>;

/// The `buffer_unordered(k)` loop over `/offset`, with `parse` returning a
/// page's record count and total.
async fn concurrent_with(
    base: &Url,
    start: usize,
    k: usize,
    parse: ParsePage,
) -> Result<Sample, String> {
    let client = reqwest::Client::new();
    let at = |offset: usize| format!("{}offset?offset={offset}&limit={PAGE_SIZE}", base);
    let fetch = |url: String| {
        let client = &client;
        async move {
            let body = get_bytes(client, &url).await?;
            parse(&body).map_err(|e| format!("reference GET {url}: {e}"))
        }
    };
    let started = Instant::now();
    let (first, total) = fetch(at(start)).await?;
    let total = total.ok_or("the offset endpoint sent no total")? as usize;
    let rest = futures::stream::iter((start + PAGE_SIZE..total).step_by(PAGE_SIZE))
        .map(|offset| {
            let fetch = &fetch;
            async move { fetch(at(offset)).await.map(|(records, _)| records) }
        })
        .buffer_unordered(k.max(1));
    let (records, requests) = rest
        .try_fold((first, 1u64), |(r, n), c| async move { Ok((r + c, n + 1)) })
        .await?;
    Ok(Sample {
        records,
        requests,
        elapsed: started.elapsed(),
    })
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let body = get_bytes(client, url).await?;
    serde_json::from_slice(&body).map_err(|e| format!("reference GET {url}: {e}"))
}

async fn get_bytes(client: &reqwest::Client, url: &str) -> Result<bytes::Bytes, String> {
    client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("reference GET {url}: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("reference GET {url}: {e}"))
}

fn count(page: &Value, field: &str) -> u64 {
    page.get(field)
        .and_then(Value::as_array)
        .map_or(0, Vec::len) as u64
}
