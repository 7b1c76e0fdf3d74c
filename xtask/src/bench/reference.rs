//! The reference: minimal raw `reqwest` loops with `serde_json`, no haul.
//! They set the limit haul is measured against.

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
/// remaining page with `buffer_unordered(k)`.
pub(crate) async fn concurrent(base: &Url, start: usize, k: usize) -> Result<Sample, String> {
    let client = reqwest::Client::new();
    let at = |offset: usize| format!("{}offset?offset={offset}&limit={PAGE_SIZE}", base);
    let started = Instant::now();
    let first = get_json(&client, &at(start)).await?;
    let total = first
        .get("total")
        .and_then(Value::as_u64)
        .ok_or("the offset endpoint sent no total")? as usize;
    let rest = futures::stream::iter((start + PAGE_SIZE..total).step_by(PAGE_SIZE))
        .map(|offset| {
            let client = &client;
            let url = at(offset);
            async move {
                get_json(client, &url)
                    .await
                    .map(|page| count(&page, "results"))
            }
        })
        .buffer_unordered(k.max(1));
    let (records, requests) = rest
        .try_fold((count(&first, "results"), 1u64), |(r, n), c| async move {
            Ok((r + c, n + 1))
        })
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
