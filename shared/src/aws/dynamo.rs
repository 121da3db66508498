//! [`DynamoStore`]: the delivery, run and identity stores on one DynamoDB table.
//!
//! # Table layout
//! One table, partition key `pk` and sort key `sk` (both strings), on-demand billing, TTL on `expires_at`
//! (epoch seconds). Every item also carries `kind` so the table reads well in the console.
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | delivery claim | `DELIVERY#{key}` | `DELIVERY` | `status` (`accepted`/`done`), `expires_at` |
//! | run | `RUN#{conversation id}` | `RUN` | `record` (JSON), `version`, `state`, `thread_key`, `created_at`, `updated_at`, `gsi1pk`, `gsi1sk` |
//! | thread pointer | `THREAD#{thread key}` | `THREAD` | `conversation_id` |
//! | identity link | `LINK` | `{provider}#{tenant}#{external user id}` (escaped) | `record` (JSON) |
//! | delivery decision | `DECISION#{delivery key}` | `DECISION` | `record` (JSON), `provider`, `tenant`, `decided_at`, `expires_at`, `gsi1pk`, `gsi1sk` |
//! | the envelope it was made on | `DECISION#{delivery key}` | `ENVELOPE` | `envelope` (the queued body), `expires_at` |
//!
//! Access patterns and how they are served:
//! - **Delivery claim**: conditional `PutItem` (`attribute_not_exists(pk) OR expires_at <= :now`), so an expired
//!   record counts as absent even before DynamoDB's best-effort TTL deletion removes it.
//! - **Run by conversation id**: `GetItem` (strongly consistent). Insert is `attribute_not_exists(pk)`; update
//!   replaces the item under `version = :expected` (optimistic concurrency).
//! - **Active conversation by thread**: conditional `PutItem` / `DeleteItem` on the thread pointer.
//! - **Identity link by (provider, tenant, external id)** and **listing links**: all links share the partition
//!   `LINK`, so one `GetItem` or one `Query` serves them. Links are few and rarely written, far below one
//!   partition's throughput; `#` and `%` in the key components are percent-escaped so components cannot run
//!   into each other.
//! - **Runs in states (the sweep)**: the global secondary index `gsi1` (projection ALL) keyed by
//!   `gsi1pk = RUNSTATE#{state}` and `gsi1sk = {created_at, zero-padded}#{conversation id}`, one `Query` per
//!   requested state, merged oldest first. Every run is indexed, not only open ones, so the port's "any states"
//!   contract holds for terminal states too; the sweep only queries the `claimed` and `running` partitions, so
//!   finished runs never slow it down. The index is eventually consistent: a listed run may have moved on a
//!   moment ago, which is harmless because every change goes through `update_run`'s version check.
//!
//! - **Runs, newest first (operators' listing)**: the same partitions read backwards (`ScanIndexForward =
//!   false`) from a cursor with `gsi1sk < :cursor` (`gsi1sk` is `ports::run_position`), one `Query` per listed
//!   state, merged; the provider is checked on the decoded records, as runs carry no provider attribute.
//!
//! - **Delivery decisions, newest first**: the same index, overloaded: `gsi1pk = DECISIONS#{provider}` and
//!   `gsi1sk` the decision's position (`ports::decision_position`: zero-padded `decided_at`, `#`, the delivery
//!   key), so one `Query` per provider reads backwards (`ScanIndexForward = false`) from a cursor with
//!   `gsi1sk < :cursor`; a tenant is a filter on that partition, and listings across providers merge the five
//!   partitions. A redelivery's decision replaces the item (its key is the delivery's), so the index entry moves.
//!   Decisions carry `expires_at` like delivery records, so they expire with them.
//!
//! Runs and links carry their full record as JSON in `record`, so adding a field to the domain types needs no
//! table change; the scalar attributes beside it exist for conditions, the index and operators.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::{
        delete_item::builders::DeleteItemFluentBuilder,
        put_item::{builders::PutItemFluentBuilder, PutItemError},
    },
    types::{
        AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, IndexStatus,
        KeySchemaElement, KeyType, Projection, ProjectionType, ReturnValue,
        ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
        TimeToLiveStatus,
    },
    Client,
};
use serde::{de::DeserializeOwned, Serialize};

use super::{classify, is_conditional_check_failed};
use crate::{
    domain::{DeliveryDecision, IdentityLink, Provider, RunRecord, RunState},
    error::PortError,
    memory::{expiry, run_order},
    ports::{
        decision_position, newest_first_page, run_position, Claim, DeliveryLog, DeliveryPage, DeliveryQuery,
        DeliveryStore, IdentityStore, RunPage, RunQuery, RunStore, ThreadClaim,
    },
};

/// Partition key attribute.
const PK: &str = "pk";
/// Sort key attribute.
const SK: &str = "sk";
/// TTL attribute (epoch seconds).
const EXPIRES_AT: &str = "expires_at";
/// The run-state index and its key attributes.
const GSI1: &str = "gsi1";
const GSI1_PK: &str = "gsi1pk";
const GSI1_SK: &str = "gsi1sk";
/// The partition holding every identity link.
const LINK_PARTITION: &str = "LINK";
/// How long `create_table` waits for a new table (and its index) to become active.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// Least items one filtered query reads (decisions of one tenant, runs of one provider).
const FILTERED_READ: usize = 100;
/// How often a thread claim retries when the pointer it lost to disappears before it can be read.
const THREAD_CLAIM_ATTEMPTS: usize = 3;

/// DynamoDB implementation of [`DeliveryStore`], [`RunStore`], [`IdentityStore`] and [`DeliveryLog`] on one table (layout in
/// the module docs). Cheap to clone: the SDK client is reference-counted.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table`, which must exist with the layout of [`DynamoStore::create_table`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on `table` with a client built from shared configuration (see [`super::sdk_config`]).
    pub fn from_conf(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// The table this store uses.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Create `table` with the layout this store expects (keys, the `gsi1` index, on-demand billing), wait until
    /// it is active, and enable TTL on `expires_at`. For tests and local setup; production tables come from the
    /// infrastructure template. Succeeds if the table already exists with TTL enabled.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), PortError> {
        let what = format!("DynamoDB table {table}");
        let build_error = |err: aws_sdk_dynamodb::error::BuildError| PortError::permanent(&what, err);
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(build_error)
        };
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key(GSI1_PK, KeyType::Hash)?)
            .key_schema(key(GSI1_SK, KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(build_error)?;
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .attribute_definitions(string_attribute(PK)?)
            .attribute_definitions(string_attribute(SK)?)
            .attribute_definitions(string_attribute(GSI1_PK)?)
            .attribute_definitions(string_attribute(GSI1_SK)?)
            .global_secondary_indexes(index)
            .send()
            .await;
        match created {
            Ok(_) => tracing::info!(table, "created DynamoDB table"),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                tracing::info!(table, "DynamoDB table already exists");
            }
            Err(err) => return Err(classify(&what, err)),
        }
        wait_until_active(client, table, &what).await?;
        enable_ttl(client, table, &what).await
    }

    fn what(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }

    fn error<E>(&self, err: SdkError<E>) -> PortError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        classify(&self.what(), err)
    }

    /// A `PutItem` on this table.
    fn put_item(&self) -> PutItemFluentBuilder {
        self.client.put_item().table_name(&self.table)
    }

    /// A `DeleteItem` of the item at (`pk`, `sk`) on this table.
    fn delete_item(&self, pk: impl Into<String>, sk: &str) -> DeleteItemFluentBuilder {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
    }

    /// A write of the delivery record for `key` in `status` (`accepted` or `done`), expiring at `expires_at`.
    fn put_delivery(&self, key: &str, status: &str, expires_at: u64) -> PutItemFluentBuilder {
        self.put_item()
            .item(PK, s(delivery_pk(key)))
            .item(SK, s("DELIVERY"))
            .item("kind", s("delivery"))
            .item("status", s(status))
            .item(EXPIRES_AT, n(expires_at))
    }

    /// Strongly consistent read of one item.
    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| self.error(err))?;
        Ok(output.item)
    }

    /// One `gsi1` partition's records, at most `limit`: in index order (oldest first), or newest first from before
    /// the position `before` when `newest_first`; only those of `tenant` (a filter expression) and those `keep`
    /// accepts (checked on the decoded record, for what an item carries only there).
    async fn query_partition<T: DeserializeOwned>(
        &self,
        partition: &str,
        newest_first: bool,
        before: Option<&str>,
        tenant: Option<&str>,
        keep: Option<&(dyn Fn(&T) -> bool + Sync)>,
        limit: usize,
    ) -> Result<Vec<T>, PortError> {
        let mut found = Vec::new();
        let mut start_key = None;
        while found.len() < limit {
            // `Limit` counts items read before any filter: read more at a time when one applies (any surplus is
            // cut below; the next page starts from its own cursor).
            let remaining = limit - found.len();
            let page_limit = if tenant.is_some() || keep.is_some() {
                remaining.max(FILTERED_READ)
            } else {
                remaining
            };
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .expression_attribute_names("#g", GSI1_PK)
                .expression_attribute_values(":g", s(partition))
                .scan_index_forward(!newest_first)
                .limit(i32::try_from(page_limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start_key.take());
            request = match before {
                Some(before) => request
                    .key_condition_expression("#g = :g AND #s < :before")
                    .expression_attribute_names("#s", GSI1_SK)
                    .expression_attribute_values(":before", s(before)),
                None => request.key_condition_expression("#g = :g"),
            };
            if let Some(tenant) = tenant {
                request = request
                    .filter_expression("#t = :t")
                    .expression_attribute_names("#t", "tenant")
                    .expression_attribute_values(":t", s(tenant));
            }
            let output = request.send().await.map_err(|err| self.error(err))?;
            for item in output.items.unwrap_or_default() {
                let record: T = self.decode_record(&item)?;
                if keep.is_none_or(|keep| keep(&record)) {
                    found.push(record);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    fn decode_record<T: DeserializeOwned>(&self, item: &Item) -> Result<T, PortError> {
        let json = string_attr(item, "record")
            .ok_or_else(|| PortError::permanent(self.what(), "stored item has no `record` attribute"))?;
        serde_json::from_str(json)
            .map_err(|err| PortError::permanent(self.what(), format!("stored record does not parse: {err}")))
    }

    fn encode_record<T: Serialize>(&self, record: &T) -> Result<AttributeValue, PortError> {
        serde_json::to_string(record)
            .map(AttributeValue::S)
            .map_err(|err| PortError::permanent(self.what(), format!("record does not serialize: {err}")))
    }

    /// The full item for `run`.
    fn run_item(&self, run: &RunRecord) -> Result<Item, PortError> {
        Ok(HashMap::from([
            (PK.to_owned(), s(run_pk(&run.conversation_id))),
            (SK.to_owned(), s("RUN")),
            ("kind".to_owned(), s("run")),
            ("record".to_owned(), self.encode_record(run)?),
            ("version".to_owned(), n(run.version)),
            ("state".to_owned(), s(run.state.as_str())),
            ("thread_key".to_owned(), s(&run.thread_key)),
            ("created_at".to_owned(), n(run.created_at)),
            ("updated_at".to_owned(), n(run.updated_at)),
            (GSI1_PK.to_owned(), s(run_state_partition(run.state))),
            // `created_at` zero-padded, so the index's string order is the numeric order, then the conversation
            // id to break ties like the other adapters do; also the listing's cursor.
            (GSI1_SK.to_owned(), s(run_position(run))),
        ]))
    }
}

type Item = HashMap<String, AttributeValue>;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .map(String::as_str)
}

fn delivery_pk(key: &str) -> String {
    format!("DELIVERY#{key}")
}

fn run_pk(conversation_id: &str) -> String {
    format!("RUN#{conversation_id}")
}

fn thread_pk(thread_key: &str) -> String {
    format!("THREAD#{thread_key}")
}

fn decision_pk(key: &str) -> String {
    format!("DECISION#{key}")
}

fn decision_partition(provider: Provider) -> String {
    format!("DECISIONS#{provider}")
}

fn run_state_partition(state: RunState) -> String {
    format!("RUNSTATE#{}", state.as_str())
}

/// Sort key of a link; components are escaped so a `#` inside a tenant cannot collide with the separator.
fn link_sk(provider: Provider, tenant: &str, external_user_id: &str) -> String {
    format!(
        "{provider}#{}#{}",
        escape_component(tenant),
        escape_component(external_user_id)
    )
}

fn escape_component(value: &str) -> String {
    value.replace('%', "%25").replace('#', "%23")
}

async fn wait_until_active(client: &Client, table: &str, what: &str) -> Result<(), PortError> {
    let started = tokio::time::Instant::now();
    loop {
        let output = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|err| classify(what, err))?;
        let description = output.table.as_ref();
        let table_active = description.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let indexes_active = description
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .all(|index| {
                index
                    .index_status()
                    .is_none_or(|status| *status == IndexStatus::Active)
            });
        if table_active && indexes_active {
            return Ok(());
        }
        if started.elapsed() > CREATE_TIMEOUT {
            return Err(PortError::transient(what, "table did not become active in time"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn enable_ttl(client: &Client, table: &str, what: &str) -> Result<(), PortError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|err| classify(what, err))?;
    if let Some(description) = current.time_to_live_description() {
        let status = description.time_to_live_status();
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return match description.attribute_name() {
                Some(EXPIRES_AT) => Ok(()),
                other => Err(PortError::permanent(
                    what,
                    format!("TTL is enabled on {other:?}, expected `{EXPIRES_AT}`"),
                )),
            };
        }
    }
    let specification = TimeToLiveSpecification::builder()
        .attribute_name(EXPIRES_AT)
        .enabled(true)
        .build()
        .map_err(|err| PortError::permanent(what, err))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(|err| classify(what, err))?;
    Ok(())
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn claim(&self, key: &str, now: u64, ttl: Duration) -> Result<Claim, PortError> {
        let result = self
            .put_delivery(key, "accepted", expiry(now, ttl))
            // An expired record is absent as far as the port is concerned, deleted by TTL yet or not.
            .condition_expression("attribute_not_exists(#pk) OR #exp <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) if is_conditional_check_failed(&err) => {
                tracing::debug!(key, "delivery already claimed");
                Ok(Claim::Duplicate)
            }
            Err(err) => Err(self.error(err)),
        }
    }

    async fn complete(&self, key: &str, now: u64, ttl: Duration) -> Result<(), PortError> {
        // Unconditional: whoever finished the work may record it, even if its claim expired meanwhile.
        self.put_delivery(key, "done", expiry(now, ttl))
            .send()
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), PortError> {
        self.delete_item(delivery_pk(key), "DELIVERY")
            .send()
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryLog for DynamoStore {
    async fn record(
        &self,
        decision: &DeliveryDecision,
        envelope: &str,
        ttl: Duration,
    ) -> Result<(), PortError> {
        let pk = decision_pk(&decision.storage_key());
        let expires_at = expiry(decision.decided_at, ttl);
        // Its own item, without the index keys: the listings (and the index) never carry it.
        let envelope = HashMap::from([
            (PK.to_owned(), s(pk.clone())),
            (SK.to_owned(), s("ENVELOPE")),
            ("kind".to_owned(), s("envelope")),
            ("envelope".to_owned(), s(envelope)),
            (EXPIRES_AT.to_owned(), n(expires_at)),
        ]);
        let item = HashMap::from([
            (PK.to_owned(), s(pk)),
            (SK.to_owned(), s("DECISION")),
            ("kind".to_owned(), s("decision")),
            ("record".to_owned(), self.encode_record(decision)?),
            ("provider".to_owned(), s(decision.provider.as_str())),
            ("tenant".to_owned(), s(&decision.tenant)),
            ("decided_at".to_owned(), n(decision.decided_at)),
            (EXPIRES_AT.to_owned(), n(expires_at)),
            (GSI1_PK.to_owned(), s(decision_partition(decision.provider))),
            (GSI1_SK.to_owned(), s(decision_position(decision))),
        ]);
        let put = |item| self.put_item().set_item(Some(item)).send();
        // Two items, written side by side: the worker waits for one round trip, not two.
        tokio::try_join!(put(envelope), put(item)).map_err(|err| self.error(err))?;
        Ok(())
    }

    async fn envelope(&self, key: &str) -> Result<Option<String>, PortError> {
        let Some(item) = self.get_item(decision_pk(key), "ENVELOPE").await? else {
            return Ok(None);
        };
        match item.get("envelope") {
            Some(AttributeValue::S(envelope)) => Ok(Some(envelope.clone())),
            _ => Err(PortError::permanent(self.what(), "stored envelope is unreadable")),
        }
    }

    async fn recent(&self, query: &DeliveryQuery) -> Result<DeliveryPage, PortError> {
        let after = query.after_position()?;
        let page = query.page_size();
        let providers = match query.provider {
            Some(provider) => vec![provider],
            None => Provider::ALL.to_vec(),
        };
        // Each partition is newest first; the overall newest `page + 1` are among each one's first `page + 1`.
        let mut found = Vec::new();
        for provider in providers {
            let partition = decision_partition(provider);
            let tenant = query.tenant.as_deref();
            found.extend(
                self.query_partition::<DeliveryDecision>(&partition, true, after, tenant, None, page + 1)
                    .await?,
            );
        }
        Ok(newest_first_page(found, page))
    }
}

#[async_trait]
impl RunStore for DynamoStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, PortError> {
        let result = self
            .put_item()
            .set_item(Some(self.run_item(run)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_check_failed(&err) => Ok(false),
            Err(err) => Err(self.error(err)),
        }
    }

    async fn get_run(&self, conversation_id: &str) -> Result<Option<RunRecord>, PortError> {
        match self.get_item(run_pk(conversation_id), "RUN").await? {
            Some(item) => self.decode_record(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn update_run(&self, run: &mut RunRecord) -> Result<bool, PortError> {
        let expected = run.version;
        let mut next = run.clone();
        next.version = expected
            .checked_add(1)
            .ok_or_else(|| PortError::permanent(self.what(), "run version overflow"))?;
        // A full replace under the version condition: the item is small, and rebuilding it keeps the index
        // attributes in step with the record.
        let result = self
            .put_item()
            .set_item(Some(self.run_item(&next)?))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await;
        match result {
            Ok(_) => {
                run.version = next.version;
                Ok(true)
            }
            // Absent, or someone else wrote first.
            Err(err) if is_conditional_check_failed(&err) => Ok(false),
            Err(err) => Err(self.error(err)),
        }
    }

    async fn runs_in_states(&self, states: &[RunState], limit: usize) -> Result<Vec<RunRecord>, PortError> {
        let mut wanted: Vec<RunState> = Vec::new();
        for state in states {
            if !wanted.contains(state) {
                wanted.push(*state);
            }
        }
        let mut runs = Vec::new();
        if limit == 0 {
            return Ok(runs);
        }
        // Each partition is already oldest first; the overall oldest `limit` are among each one's first `limit`.
        for state in wanted {
            let partition = run_state_partition(state);
            runs.extend(
                self.query_partition::<RunRecord>(&partition, false, None, None, None, limit)
                    .await?,
            );
        }
        runs.sort_by(run_order);
        runs.truncate(limit);
        Ok(runs)
    }

    async fn recent_runs(&self, query: &RunQuery) -> Result<RunPage, PortError> {
        let after = query.after_position()?;
        let page = query.page_size();
        // Each partition is newest first; the overall newest `page + 1` are among each one's first `page + 1`.
        let mut found = Vec::new();
        for state in query.listed_states() {
            // Runs carry their provider only in the record.
            let of_provider = |run: &RunRecord| query.provider.is_none_or(|p| p == run.provider);
            let keep: Option<&(dyn Fn(&RunRecord) -> bool + Sync)> =
                query.provider.map(|_| &of_provider as _);
            let partition = run_state_partition(state);
            found.extend(
                self.query_partition(&partition, true, after, None, keep, page + 1)
                    .await?,
            );
        }
        Ok(newest_first_page(found, page))
    }

    async fn claim_thread(&self, thread_key: &str, conversation_id: &str) -> Result<ThreadClaim, PortError> {
        for _ in 0..THREAD_CLAIM_ATTEMPTS {
            let result = self
                .put_item()
                .item(PK, s(thread_pk(thread_key)))
                .item(SK, s("THREAD"))
                .item("kind", s("thread"))
                .item("conversation_id", s(conversation_id))
                .condition_expression("attribute_not_exists(#pk) OR #cid = :cid")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#cid", "conversation_id")
                .expression_attribute_values(":cid", s(conversation_id))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(ThreadClaim::Claimed),
                Err(err) => err,
            };
            if !is_conditional_check_failed(&err) {
                return Err(self.error(err));
            }
            // The failed condition usually returns the holder; read it if the service did not.
            let returned = match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => failed
                    .item()
                    .and_then(|item| string_attr(item, "conversation_id"))
                    .map(str::to_owned),
                _ => None,
            };
            let holder = match returned {
                Some(holder) => Some(holder),
                None => self.thread_run(thread_key).await?,
            };
            match holder {
                Some(holder) if holder != conversation_id => {
                    return Ok(ThreadClaim::Active {
                        conversation_id: holder,
                    })
                }
                // Released (or handed to us) between the write and the read: try again.
                _ => continue,
            }
        }
        Err(PortError::transient(
            self.what(),
            format!("thread pointer {thread_key} kept changing"),
        ))
    }

    async fn thread_run(&self, thread_key: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .get_item(thread_pk(thread_key), "THREAD")
            .await?
            .and_then(|item| string_attr(&item, "conversation_id").map(str::to_owned)))
    }

    async fn release_thread(&self, thread_key: &str, conversation_id: &str) -> Result<(), PortError> {
        let result = self
            .delete_item(thread_pk(thread_key), "THREAD")
            .condition_expression("#cid = :cid")
            .expression_attribute_names("#cid", "conversation_id")
            .expression_attribute_values(":cid", s(conversation_id))
            .send()
            .await;
        match result {
            // Not ours (or already gone): nothing to release.
            Err(err) if is_conditional_check_failed(&err) => Ok(()),
            Err(err) => Err(self.error(err)),
            Ok(_) => Ok(()),
        }
    }
}

#[async_trait]
impl IdentityStore for DynamoStore {
    async fn get_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<Option<IdentityLink>, PortError> {
        let sk = link_sk(provider, tenant, external_user_id);
        match self.get_item(LINK_PARTITION.to_owned(), &sk).await? {
            Some(item) => self.decode_record(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn put_link(&self, link: &IdentityLink) -> Result<(), PortError> {
        self.put_item()
            .item(PK, s(LINK_PARTITION))
            .item(
                SK,
                s(link_sk(link.provider, &link.tenant, &link.external_user_id)),
            )
            .item("kind", s("link"))
            .item("record", self.encode_record(link)?)
            .send()
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    async fn remove_link(
        &self,
        provider: Provider,
        tenant: &str,
        external_user_id: &str,
    ) -> Result<bool, PortError> {
        let output = self
            .delete_item(LINK_PARTITION, &link_sk(provider, tenant, external_user_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| self.error(err))?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }

    async fn list_links(&self) -> Result<Vec<IdentityLink>, PortError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(LINK_PARTITION))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut links: Vec<IdentityLink> = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(|err| self.error(err))?.items.unwrap_or_default() {
                links.push(self.decode_record(&item)?);
            }
        }
        // The escaped sort key orders almost like the tuple; sort on the tuple to match the port exactly.
        links.sort_by(|a, b| {
            (a.provider.as_str(), &a.tenant, &a.external_user_id).cmp(&(
                b.provider.as_str(),
                &b.tenant,
                &b.external_user_id,
            ))
        });
        Ok(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_keys_cannot_collide_across_components() {
        let a = link_sk(Provider::Github, "a#b", "c");
        let b = link_sk(Provider::Github, "a", "b#c");
        assert_ne!(a, b);
        assert_eq!(link_sk(Provider::Slack, "T%1", "U#2"), "slack#T%251#U%232");
    }

    #[test]
    fn index_sort_key_orders_numerically() {
        // The index sort key of a run.
        let key = |created_at, conversation_id: &str| {
            let run = crate::conformance::run(conversation_id, RunState::Running, 0);
            run_position(&RunRecord { created_at, ..run })
        };
        assert!(key(99, "b") < key(100, "a"));
        assert!(key(100, "a") < key(100, "b"));
        assert!(key(u64::MAX, "a") > key(u64::MAX - 1, "b"));
    }
}
