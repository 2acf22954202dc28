//! The bucket policy of the policy row: 20 statements of the kinds users write (grants to
//! other keys and to everyone on prefixes, denies with conditions on the source address, the
//! transport, encryption headers, dates and user agents), none of which refuses the bench's own
//! requests, so that GET with it measures what evaluating a real policy costs.

/// A 20-statement policy for `bucket`.
pub fn twenty_statements(bucket: &str) -> String {
    let arn = format!("arn:aws:s3:::{bucket}");
    let mut statements = Vec::new();
    for i in 0..6 {
        statements.push(serde_json::json!({
            "Sid": format!("TeamRead{i}"), "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::123456789012:user/TEAMKEY{i}")},
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [arn.clone(), format!("{arn}/team{i}/*")],
        }));
    }
    for i in 0..4 {
        statements.push(serde_json::json!({
            "Sid": format!("PublicPrefix{i}"), "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": format!("{arn}/public{i}/*"),
            "Condition": {"StringLike": {"aws:Referer": [format!("https://site{i}.example/*")]}},
        }));
    }
    for i in 0..4 {
        statements.push(serde_json::json!({
            "Sid": format!("UploadOnly{i}"), "Effect": "Allow",
            "Principal": {"AWS": format!("UPLOADKEY{i}")},
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": format!("{arn}/incoming{i}/*"),
        }));
    }
    statements.extend([
        serde_json::json!({"Sid": "OnlyFromHere", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]}}}),
        serde_json::json!({"Sid": "NoOldClients", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": format!("{arn}/*"),
            "Condition": {"StringLike": {"aws:UserAgent": ["*ancient-client/0.*"]}}}),
        serde_json::json!({"Sid": "SealedUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": format!("{arn}/sealed/*"),
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}),
        serde_json::json!({"Sid": "Expired", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": format!("{arn}/campaign/*"),
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}}}),
        serde_json::json!({"Sid": "SmallListings", "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
            "Resource": arn.clone(),
            "Condition": {"NumericGreaterThan": {"s3:max-keys": "5000"}}}),
        serde_json::json!({"Sid": "KeepTags", "Effect": "Deny", "NotPrincipal": {"AWS": "ADMINKEY"},
            "Action": ["s3:DeleteObjectTagging"], "Resource": format!("{arn}/*")}),
    ]);
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_twenty_statements() {
        let p: serde_json::Value = serde_json::from_str(&super::twenty_statements("b")).unwrap();
        assert_eq!(p["Statement"].as_array().unwrap().len(), 20);
    }
}
