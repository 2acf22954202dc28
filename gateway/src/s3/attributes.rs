//! GetObjectAttributes: size, ETag, storage class, the stored checksums and, for a multipart
//! object, its parts (paged by `max-parts` / `part-number-marker`) with their checksums.

use node_api::model::Layout;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::fields::{etag_of, last_modified};
use super::sse_c::customer_headers;
use super::Gateway;
use crate::checksums::{checksum_struct, checksum_type_of};

pub(super) async fn get_object_attributes(
    gw: &Gateway,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input;
    let customer = gw.customer_key(&req.extensions, customer_headers!(input))?;
    gw.bucket(&input.bucket).await?;
    let m = gw.object(&input.bucket, &input.key).await?;
    // As on AWS, an SSE-C object's attributes need its key.
    gw.open_object(&m, customer.as_ref())?;
    if input
        .version_id
        .as_deref()
        .is_some_and(|v| v != m.version.to_hex() && v != "null")
    {
        return Err(s3_error!(
            NoSuchVersion,
            "The specified version does not exist."
        ));
    }
    // SDKs send the list in one header, comma-separated (`ObjectSize,ETag`), which s3s hands
    // over as one element; repeated headers give one element each.
    let wanted: Vec<&str> = input
        .object_attributes
        .iter()
        .flat_map(|a| a.as_str().split(','))
        .map(str::trim)
        .collect();
    let wants = |name: &str| wanted.iter().any(|a| a.eq_ignore_ascii_case(name));
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(last_modified(&m)),
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        out.e_tag = Some(etag_of(&m));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = Some(m.size as i64);
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(ObjectAttributes::CHECKSUM) && !m.checksums.is_empty() {
        let mut c = checksum_struct(&m.checksums);
        c.checksum_type = checksum_type_of(&m.checksums).map(ChecksumType::from_static);
        out.checksum = Some(c);
    }
    if let (true, Layout::Parts(parts)) = (wants(ObjectAttributes::OBJECT_PARTS), &m.layout) {
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as usize;
        // Parts are numbered by position, as for GET with partNumber.
        let after: Vec<(usize, _)> = parts.iter().enumerate().skip(marker).collect();
        let page = after.get(..max).unwrap_or(&after);
        out.object_parts = Some(GetObjectAttributesParts {
            total_parts_count: Some(parts.len() as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: page.last().map(|(i, _)| (*i as i32).saturating_add(1)),
            max_parts: Some(max as i32),
            is_truncated: Some(after.len() > page.len()),
            parts: Some(
                page.iter()
                    .map(|(i, p)| {
                        let c = checksum_struct(&p.checksums);
                        ObjectPart {
                            part_number: Some((*i as i32).saturating_add(1)),
                            size: Some(p.size as i64),
                            checksum_crc32: c.checksum_crc32,
                            checksum_crc32c: c.checksum_crc32c,
                            checksum_crc64nvme: c.checksum_crc64nvme,
                            checksum_sha1: c.checksum_sha1,
                            checksum_sha256: c.checksum_sha256,
                        }
                    })
                    .collect(),
            ),
        });
    }
    Ok(S3Response::new(out))
}
