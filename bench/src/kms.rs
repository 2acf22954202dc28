//! The KMS row: 1 MiB PUTs and GETs in three buckets whose default encryption differs, SSE-S3
//! (the master keys), SSE-KMS under `dev-key` (materials in the configuration) and SSE-KMS
//! under `hsm-key` (a PKCS#11 token, SoftHSM2 in `scripts/bench.sh`), alternating request by
//! request so that whatever else the machine does weighs on all alike. A cluster without the
//! token key (an older revision, an external endpoint) gets the first two only.

use std::sync::Arc;

use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};

use crate::drive::{drive, Outcomes};
use crate::objects::{Ctx, Plan};

/// Objects per bucket (1 MiB each, three copies on the nodes).
const PER_BUCKET: usize = 100;

/// (operation suffix, bucket suffix, KMS key; `None`: SSE-S3).
const KINDS: [(&str, &str, Option<&str>); 3] = [
    ("SSE-S3", "s3", None),
    ("KMS-KEYRING", "kr", Some("dev-key")),
    ("KMS-PKCS11", "hsm", Some("hsm-key")),
];

async fn default_kms(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> anyhow::Result<()> {
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id(key)
                .build()?,
        )
        .build();
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

/// Operation names of the kinds in use: `PUT <kind>` and `GET <kind>`.
fn op(verb: &str, kind: &str) -> &'static str {
    match (verb, kind) {
        ("PUT", "SSE-S3") => "PUT SSE-S3",
        ("PUT", "KMS-KEYRING") => "PUT KMS-KEYRING",
        ("PUT", _) => "PUT KMS-PKCS11",
        (_, "SSE-S3") => "GET SSE-S3",
        (_, "KMS-KEYRING") => "GET KMS-KEYRING",
        _ => "GET KMS-PKCS11",
    }
}

pub async fn side_by_side(
    s3: &aws_sdk_s3::Client,
    ctx: &Arc<Ctx>,
    plan: &Plan,
) -> anyhow::Result<[Outcomes; 2]> {
    let mut kinds: Vec<(&'static str, String)> = Vec::new();
    for (name, suffix, key) in KINDS {
        let bucket = format!("{}-{suffix}", plan.bucket);
        s3.create_bucket().bucket(&bucket).send().await?;
        if let Some(key) = key {
            if let Err(e) = default_kms(s3, &bucket, key).await {
                eprintln!("KMS phase: no {name} row (key `{key}`: {e:#})");
                s3.delete_bucket().bucket(&bucket).send().await?;
                continue;
            }
        }
        kinds.push((name, bucket));
    }
    let kinds = Arc::new(kinds);
    let count = plan.count.min(PER_BUCKET);
    let k = kinds.len();
    let run = |verb: &'static str, requests: usize| {
        let (ctx, kinds) = (ctx.clone(), kinds.clone());
        drive(
            plan.concurrency,
            requests * k,
            plan.limit * k as u32,
            move |n| {
                let (ctx, kinds) = (ctx.clone(), kinds.clone());
                async move {
                    let (kind, bucket) = &kinds[n % k];
                    let i = (n / k) % count;
                    let result = if verb == "PUT" {
                        ctx.put_into(bucket, i).await
                    } else {
                        ctx.get_from(bucket, i).await
                    };
                    (op(verb, kind), result)
                }
            },
        )
    };
    let puts = run("PUT", count).await;
    let gets = run("GET", plan.requests).await;
    for (_, bucket) in kinds.iter() {
        for i in 0..count {
            ctx.delete_from(bucket, i).await?;
        }
        s3.delete_bucket().bucket(bucket).send().await?;
    }
    Ok([puts, gets])
}
