//! Which store the admin tool works on, and opening it: the local host's SQLite database, or an AWS deployment's
//! DynamoDB table through the same ports ([`IdentityStore`], [`RunStore`], [`DeliveryLog`]) the Lambda functions
//! use.

use std::path::PathBuf;

use hookline::{
    embedded::Database,
    ports::{DeadLetter, DeliveryLog, IdentityStore, RunStore},
};

use super::{AdminError, Env};
use crate::LocalConfig;

/// The DynamoDB table of an AWS deployment, as the Lambda functions read it (`AwsConfig` in
/// `hookline::aws::lambda`).
pub const TABLE_VAR: &str = "HOOKLINE_TABLE";

/// What `dead-letters` says on AWS, where they are not in the table.
const SQS_DEAD_LETTERS: &str = "\
on AWS, dead letters are in the SQS dead-letter queue, not in the table, and this tool does not read them
(receiving a message hides it from other readers for a while). Find the queue with
  aws cloudformation describe-stacks --stack-name <stack> \\
    --query \"Stacks[0].Outputs[?OutputKey=='DeadLetterQueueUrl'].OutputValue\" --output text
count its messages with
  aws sqs get-queue-attributes --queue-url <url> --attribute-names ApproximateNumberOfMessages
and read them in the SQS console (the queue, then \"Send and receive messages\", \"Poll for messages\") or with
  aws sqs receive-message --queue-url <url> --max-number-of-messages 10 --visibility-timeout 0 \\
    --message-system-attribute-names All
After fixing the cause, move them back with the console's \"Start DLQ redrive\" (see infra/README.md).";

/// Where the commands read and write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The local host's database file (`$HOOKLINE_DATA_DIR/hookline.db`).
    Sqlite { database: PathBuf },
    /// An AWS deployment's table (`HOOKLINE_TABLE`).
    Dynamo { table: String },
}

impl Backend {
    /// `--sqlite` or `--aws` (not both); without either, DynamoDB when `HOOKLINE_TABLE` is set, else SQLite. The
    /// database path comes from [`LocalConfig`], as the local host reads it.
    pub fn choose(aws: bool, sqlite: bool, env: Env<'_>) -> Result<Self, AdminError> {
        if aws && sqlite {
            return Err(AdminError::Usage("pass --aws or --sqlite, not both".to_owned()));
        }
        let table = env(TABLE_VAR)
            .map(|table| table.trim().to_owned())
            .filter(|table| !table.is_empty());
        match table {
            Some(table) if !sqlite => Ok(Backend::Dynamo { table }),
            None if aws => Err(AdminError::Usage(format!(
                "--aws needs {TABLE_VAR}, the deployment's DynamoDB table (the stack's TableName output): \
                 export {TABLE_VAR}=\"$(aws cloudformation describe-stacks --stack-name <stack> --query \
                 \"Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue\" --output text)\""
            ))),
            _ => {
                let local =
                    LocalConfig::from_lookup(env).map_err(|err| AdminError::Usage(format!("{err:#}")))?;
                Ok(Backend::Sqlite {
                    database: local.database_path(),
                })
            }
        }
    }
}

/// An open store: the identity, run and delivery-log ports, and where dead letters are.
pub struct Store {
    identities: Box<dyn IdentityStore>,
    runs: Box<dyn RunStore>,
    decisions: Box<dyn DeliveryLog>,
    dead_letters: DeadLetters,
}

enum DeadLetters {
    Sqlite(Database),
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    Sqs,
}

impl Store {
    /// The local host's store on `database`.
    pub fn sqlite(database: Database) -> Self {
        Self {
            identities: Box::new(database.store()),
            runs: Box::new(database.store()),
            decisions: Box::new(database.store()),
            dead_letters: DeadLetters::Sqlite(database),
        }
    }

    /// An AWS deployment's store.
    #[cfg(feature = "aws")]
    pub fn dynamo(store: hookline::aws::DynamoStore) -> Self {
        Self {
            identities: Box::new(store.clone()),
            runs: Box::new(store.clone()),
            decisions: Box::new(store),
            dead_letters: DeadLetters::Sqs,
        }
    }

    /// Open `backend`: create the data folder and open (or create) the database; or load the AWS settings.
    pub async fn open(backend: &Backend) -> Result<Self, AdminError> {
        match backend {
            Backend::Sqlite { database } => {
                if let Some(folder) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder)
                        .map_err(|err| AdminError::Failed(format!("creating {}: {err}", folder.display())))?;
                }
                let database = Database::open(database)
                    .map_err(|err| AdminError::Failed(format!("opening {}: {err}", database.display())))?;
                Ok(Self::sqlite(database))
            }
            Backend::Dynamo { table } => open_dynamo(table).await,
        }
    }

    pub(super) fn identities(&self) -> &dyn IdentityStore {
        self.identities.as_ref()
    }

    pub(super) fn runs(&self) -> &dyn RunStore {
        self.runs.as_ref()
    }

    pub(super) fn decisions(&self) -> &dyn DeliveryLog {
        self.decisions.as_ref()
    }

    pub(super) fn dead_letters(&self) -> Result<Vec<DeadLetter>, AdminError> {
        match &self.dead_letters {
            DeadLetters::Sqlite(database) => Ok(database.queue().dead_letters()?),
            DeadLetters::Sqs => Err(AdminError::Failed(SQS_DEAD_LETTERS.to_owned())),
        }
    }
}

/// The table through the SDK settings the Lambda functions use ([`hookline::aws::sdk_config`]: region and
/// credentials from the standard sources, `AWS_ENDPOINT_URL` for an emulator).
#[cfg(feature = "aws")]
async fn open_dynamo(table: &str) -> Result<Store, AdminError> {
    Store::dynamo_from_conf(&hookline::aws::sdk_config().await, table)
}

#[cfg(feature = "aws")]
impl Store {
    /// An AWS deployment's store on `table`, with clients from `sdk` (which must name a region).
    pub fn dynamo_from_conf(sdk: &aws_config::SdkConfig, table: &str) -> Result<Self, AdminError> {
        if sdk.region().is_none() {
            return Err(AdminError::Usage(
                "no AWS region: set AWS_REGION to the deployment's region (or AWS_PROFILE to a profile that \
                 has one)"
                    .to_owned(),
            ));
        }
        Ok(Self::dynamo(hookline::aws::DynamoStore::from_conf(sdk, table)))
    }
}

#[cfg(not(feature = "aws"))]
async fn open_dynamo(table: &str) -> Result<Store, AdminError> {
    Err(AdminError::Usage(format!(
        "the DynamoDB table {table:?} (--aws, or {TABLE_VAR} set) needs hookline-admin built with the `aws` \
         feature: cargo run --profile local -p hookline-local --features aws --bin hookline-admin -- …; pass \
         --sqlite for the local database"
    )))
}
