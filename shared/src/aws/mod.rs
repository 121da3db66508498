//! AWS adapters: DynamoDB store, SQS queue, Secrets Manager secrets.
