//! What the resource types' implementations share: turning SDK errors into [`ProviderError`]s,
//! waiting for asynchronous operations, tags, EC2 filters.

use std::time::Duration;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::Serialize;

use crate::model::Address;
use crate::provider::{Applied, ProviderError};
use crate::resources::Tags;

/// Turns an SDK error into a [`ProviderError`] holding its code and whole cause chain.
pub(crate) fn api<E>(operation: &'static str) -> impl FnOnce(E) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| ProviderError::Api {
        operation,
        code: err.code().map(str::to_string),
        message: DisplayErrorContext(&err).to_string(),
    }
}

/// Reports a value of `address` that cannot be turned into an AWS request.
pub(crate) fn malformed<E: std::fmt::Display>(address: &Address) -> impl FnOnce(E) -> ProviderError + '_ {
    move |e| ProviderError::Malformed { address: address.clone(), message: e.to_string() }
}

/// Reports an answer that lacks what it should hold (`what` names the call).
pub(crate) fn missing(what: &str, message: &str) -> ProviderError {
    ProviderError::OperationFailed { what: what.to_string(), message: message.to_string() }
}

/// The JSON form of typed outputs, as the state records them.
pub(crate) fn output_map<O: Serialize>(outputs: &O) -> std::collections::BTreeMap<String, serde_json::Value> {
    match serde_json::to_value(outputs) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
        _ => Default::default(),
    }
}

/// Wraps the failure of a step after the resource was created: the engine records what was
/// created (as tainted, unless the provider finishes it), so it is never lost.
pub(crate) fn incomplete<O: Serialize>(physical_id: &str, outputs: &O) -> impl FnOnce(ProviderError) -> ProviderError {
    let applied = Applied { physical_id: physical_id.to_string(), outputs: output_map(outputs) };
    move |source| ProviderError::Incomplete { applied, source: Box::new(source) }
}

/// A rule or route change whose answer was lost and that the SDK sent again is refused the
/// second time (the rule is already gone, or already there): that refusal with `code` means it
/// is done.
pub(crate) fn settled(code: &'static str) -> impl FnOnce(ProviderError) -> Result<(), ProviderError> {
    move |err| match &err {
        ProviderError::Api { code: Some(c), .. } if c == code => Ok(()),
        _ => Err(err),
    }
}

/// An EC2 filter on `name` with `values`.
pub(crate) fn filter<const N: usize>(name: &str, values: [&str; N]) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name(name).set_values(Some(values.map(str::to_string).to_vec())).build()
}

/// Tags as AWS reports them, in the declared form (`aws:*` tags are AWS's own and left out).
pub(crate) fn tags<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tags {
    pairs.into_iter().filter(|(k, _)| !k.starts_with("aws:")).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Removes and sets tags with a service's own calls (each skipped when there is nothing to do) to
/// go from the tags `old` to `new`.
pub(crate) async fn sync_tags<U, UF, T, TF>(old: &Tags, new: &Tags, untag: U, tag: T) -> Result<(), ProviderError>
where
    U: FnOnce(Vec<String>) -> UF,
    UF: std::future::Future<Output = Result<(), ProviderError>>,
    T: FnOnce(Vec<(String, String)>) -> TF,
    TF: std::future::Future<Output = Result<(), ProviderError>>,
{
    let set: Vec<(String, String)> =
        new.iter().filter(|(k, v)| old.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove: Vec<String> = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    if !remove.is_empty() {
        untag(remove).await?;
    }
    if !set.is_empty() {
        tag(set).await?;
    }
    Ok(())
}

/// The texts of resolved references (ids, ARNs), for an AWS request.
pub(crate) fn texts<T>(refs: &[crate::model::Ref<T>]) -> Vec<String> {
    refs.iter().map(|r| r.as_str().to_string()).collect()
}

/// References to ids AWS reports.
pub(crate) fn refs<T, S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> Vec<crate::model::Ref<T>> {
    ids.into_iter().map(|id| crate::model::Ref::existing(id.as_ref())).collect()
}

/// Polls `check` until it returns `Some`, up to `deadline`. The pause between polls grows with
/// the time waited (an eighth of it, from 200 ms to 15 s): a wait ends at most about 12% after
/// the awaited change, however long the change takes, with few calls.
pub(crate) async fn wait_for<T, F, Fut>(what: String, deadline: Duration, mut check: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ProviderError>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        let delay = poll_delay(started.elapsed());
        if started.elapsed() + delay > deadline {
            return Err(ProviderError::Timeout { waiting_for: what, after: deadline });
        }
        tokio::time::sleep(delay).await;
    }
}

/// Waits until `read` returns `wanted`, up to `deadline`: after a write AWS may answer reads with
/// what was there before for a while, and a read that did would plan the change again.
pub(crate) async fn wait_read_back<T, F, Fut>(
    what: String,
    deadline: Duration,
    wanted: &T,
    read: F,
) -> Result<(), ProviderError>
where
    T: PartialEq,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    wait_for(format!("{what} to be read back"), deadline, || {
        let read = read();
        async move { Ok((read.await? == *wanted).then_some(())) }
    })
    .await
}

/// The pause before the next poll of a wait that has lasted `waited`.
pub(crate) fn poll_delay(waited: Duration) -> Duration {
    (waited / 8).clamp(Duration::from_millis(200), Duration::from_secs(15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tags_are_set_and_removed_only_where_they_differ() {
        let old = Tags::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let new = Tags::from([("a".into(), "1".into()), ("c".into(), "3".into())]);
        let removed = std::sync::Mutex::new(vec![]);
        let set = std::sync::Mutex::new(vec![]);
        sync_tags(
            &old,
            &new,
            |r| async {
                removed.lock().unwrap().extend(r);
                Ok(())
            },
            |s| async {
                set.lock().unwrap().extend(s);
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(*removed.lock().unwrap(), ["b"]);
        assert_eq!(*set.lock().unwrap(), [("c".to_string(), "3".to_string())]);
        assert_eq!(tags([("aws:cloudformation:stack", "x"), ("k", "v")]), Tags::from([("k".into(), "v".into())]));
    }
}
