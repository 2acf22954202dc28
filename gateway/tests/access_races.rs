//! Access settings changed while other requests run, against three real storage nodes and two
//! gateways: changes of different bucket settings made at once (policy, tags, CORS, public
//! access block, default encryption, website) are all kept (each is an agreed
//! read-modify-write of the bucket record), and PutObjectAcl racing PUT, DELETE and
//! tagging never fails with a 5xx, never resurrects a deleted object and never rolls back a
//! newer write.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, IndexDocument, ObjectCannedAcl, ObjectOwnership,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    WebsiteConfiguration,
};
use common::{anonymous, code, pattern, status, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_settings_changed_at_once_are_all_kept() {
    let mut cluster = TestCluster::start();
    let one = cluster.client();
    let other_endpoint = cluster.start_another_gateway();
    let two = cluster.client_of(&other_endpoint);
    one.create_bucket().bucket("settings").send().await.unwrap();
    for round in 0..12 {
        let policy = format!(
            r#"{{"Statement": [{{"Sid": "r{round}", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::settings/r{round}/*"}}]}}"#
        );
        let tags = Tagging::builder()
            .tag_set(
                Tag::builder()
                    .key("round")
                    .value(round.to_string())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let cors = CorsConfiguration::builder()
            .cors_rules(
                CorsRule::builder()
                    .allowed_origins(format!("https://r{round}.example"))
                    .allowed_methods("GET")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let block = PublicAccessBlockConfiguration::builder()
            .block_public_acls(round % 2 == 0)
            .ignore_public_acls(round % 3 == 0)
            .build();
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::AwsKms)
                            .kms_master_key_id("aws/s3")
                            .build()
                            .unwrap(),
                    )
                    .bucket_key_enabled(round % 2 == 1)
                    .build(),
            )
            .build()
            .unwrap();
        let website = WebsiteConfiguration::builder()
            .index_document(
                IndexDocument::builder()
                    .suffix(format!("index{round}.html"))
                    .build()
                    .unwrap(),
            )
            .build();
        let (a, b, c, d, e, f) = tokio::join!(
            one.put_bucket_policy()
                .bucket("settings")
                .policy(&policy)
                .send(),
            two.put_bucket_tagging()
                .bucket("settings")
                .tagging(tags)
                .send(),
            one.put_bucket_cors()
                .bucket("settings")
                .cors_configuration(cors)
                .send(),
            two.put_public_access_block()
                .bucket("settings")
                .public_access_block_configuration(block)
                .send(),
            one.put_bucket_encryption()
                .bucket("settings")
                .server_side_encryption_configuration(encryption)
                .send(),
            two.put_bucket_website()
                .bucket("settings")
                .website_configuration(website)
                .send(),
        );
        for (what, failed) in [
            ("policy", a.err().map(|e| code(&e))),
            ("tagging", b.err().map(|e| code(&e))),
            ("cors", c.err().map(|e| code(&e))),
            ("block", d.err().map(|e| code(&e))),
            ("encryption", e.err().map(|e| code(&e))),
            ("website", f.err().map(|e| code(&e))),
        ] {
            assert_eq!(failed, None, "round {round}: {what}");
        }
        // Every change is there, read through either gateway.
        for s3 in [&one, &two] {
            let got = s3
                .get_bucket_policy()
                .bucket("settings")
                .send()
                .await
                .unwrap();
            assert_eq!(got.policy(), Some(policy.as_str()), "round {round}");
            let tags = s3
                .get_bucket_tagging()
                .bucket("settings")
                .send()
                .await
                .unwrap();
            assert_eq!(tags.tag_set()[0].value(), round.to_string());
            let cors = s3
                .get_bucket_cors()
                .bucket("settings")
                .send()
                .await
                .unwrap();
            assert_eq!(
                cors.cors_rules()[0].allowed_origins(),
                [format!("https://r{round}.example")]
            );
            let block = s3
                .get_public_access_block()
                .bucket("settings")
                .send()
                .await
                .unwrap();
            let block = block.public_access_block_configuration().unwrap();
            assert_eq!(block.block_public_acls(), Some(round % 2 == 0));
            assert_eq!(block.ignore_public_acls(), Some(round % 3 == 0));
            let encryption = s3
                .get_bucket_encryption()
                .bucket("settings")
                .send()
                .await
                .unwrap();
            let rule = &encryption
                .server_side_encryption_configuration()
                .unwrap()
                .rules()[0];
            assert_eq!(rule.bucket_key_enabled(), Some(round % 2 == 1));
            let website = s3
                .get_bucket_website()
                .bucket("settings")
                .send()
                .await
                .unwrap();
            assert_eq!(
                website.index_document().map(|i| i.suffix()),
                Some(format!("index{round}.html").as_str())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn object_acl_changes_race_puts_deletes_and_tagging() {
    let cluster = TestCluster::start();
    let s3 = cluster.client();
    s3.create_bucket()
        .bucket("acls")
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap();
    let len = 64 << 10;
    let put = move |s3: aws_sdk_s3::Client, key: String, seed: u64| async move {
        s3.put_object()
            .bucket("acls")
            .key(key)
            .body(ByteStream::from(pattern(len, seed)))
            .send()
            .await
    };

    // ACL changes, tagging, overwrites and GETs on one key, for a while: no 5xx, and every
    // GET reads a whole version.
    put(s3.clone(), "hot".into(), 0).await.unwrap();
    let stop = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for w in 0..2u64 {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                let canned = if n % 2 == w {
                    ObjectCannedAcl::PublicRead
                } else {
                    ObjectCannedAcl::Private
                };
                s3.put_object_acl()
                    .bucket("acls")
                    .key("hot")
                    .acl(canned)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("acl: {} {}", status(&e), code(&e)));
                n += 1;
            }
            n
        }));
    }
    {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                put(s3.clone(), "hot".into(), 1 + n % 3)
                    .await
                    .unwrap_or_else(|e| panic!("put: {} {}", status(&e), code(&e)));
                let tags = Tagging::builder()
                    .tag_set(
                        Tag::builder()
                            .key("n")
                            .value(n.to_string())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap();
                s3.put_object_tagging()
                    .bucket("acls")
                    .key("hot")
                    .tagging(tags)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("tagging: {} {}", status(&e), code(&e)));
                let got = s3
                    .get_object()
                    .bucket("acls")
                    .key("hot")
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("get: {} {}", status(&e), code(&e)));
                let body = got.body.collect().await.unwrap().into_bytes();
                assert!(
                    (0..4).any(|s| pattern(len, s) == body),
                    "a GET read no version"
                );
                n += 1;
            }
            n
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() > 2, "too few calls");
    }
    // The last writes decide: a PUT, then public-read, serves that PUT's bytes anonymously.
    put(s3.clone(), "hot".into(), 3).await.unwrap();
    s3.put_object_acl()
        .bucket("acls")
        .key("hot")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let url = format!("{}/acls/hot", cluster.endpoint());
    assert_eq!(
        anonymous(http::Method::GET, &url).await,
        (200, pattern(len, 3))
    );

    // PutObjectAcl racing DELETE: when both succeed the ACL change came first, so the object
    // stays deleted; an ACL change that comes second finds no object (404).
    let mut both = 0;
    for i in 0..40 {
        let key = format!("gone-{i}");
        put(s3.clone(), key.clone(), 2).await.unwrap();
        let (acl, deleted) = tokio::join!(
            s3.put_object_acl()
                .bucket("acls")
                .key(&key)
                .acl(ObjectCannedAcl::PublicRead)
                .send(),
            s3.delete_object().bucket("acls").key(&key).send(),
        );
        deleted.unwrap();
        match acl {
            Ok(_) => both += 1,
            Err(e) => assert_eq!(code(&e), "NoSuchKey", "{}", status(&e)),
        }
        let after = s3.head_object().bucket("acls").key(&key).send().await;
        assert_eq!(
            after.map_err(|e| status(&e)).err(),
            Some(404),
            "{key} came back"
        );
        let url = format!("{}/acls/{key}", cluster.endpoint());
        assert_ne!(
            anonymous(http::Method::GET, &url).await.0,
            200,
            "{key} readable after its deletion"
        );
    }
    println!("{both} of 40 ACL changes landed before their racing DELETE");
}
