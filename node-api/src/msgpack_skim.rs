//! Reading a few fields of a MessagePack map without decoding the rest: the listing scan wants
//! four small fields of each stored manifest, and decoding (or even serde's skipping of) the
//! others (metadata maps, layout, sealed envelope) was most of a listing node's CPU.

use rmp::Marker;

/// Deepest nesting [`skip_value`] follows (stored records nest a few levels at most).
const MAX_DEPTH: usize = 32;

/// What a field visitor did with a value.
pub enum Field {
    /// Left it: skip it.
    Skip,
    /// Read it; go on.
    Taken,
    /// Read it, and wants no more fields.
    Enough,
}

/// Calls `take(name, rest)` for the entries of the map `bytes` holds, in order, with `rest`
/// positioned at the entry's value, until `take` has had [`Field::Enough`] or the map ends.
pub fn for_fields(
    bytes: &[u8],
    mut take: impl FnMut(&[u8], &mut &[u8]) -> Result<Field, String>,
) -> Result<(), String> {
    let mut rd = bytes;
    let entries = rmp::decode::read_map_len(&mut rd).map_err(|e| format!("not a map: {e}"))?;
    for _ in 0..entries {
        let name = read_str(&mut rd)?;
        match take(name, &mut rd)? {
            Field::Skip => skip_value(&mut rd, 0)?,
            Field::Taken => {}
            Field::Enough => break,
        }
    }
    Ok(())
}

/// Reads a string's bytes.
pub fn read_str<'a>(rd: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = rmp::decode::read_str_len(rd).map_err(|e| format!("not a string: {e}"))?;
    advance(rd, len as usize)
}

/// Reads an unsigned integer or nil.
pub fn read_opt_u64(rd: &mut &[u8]) -> Result<Option<u64>, String> {
    if rd.first() == Some(&Marker::Null.to_u8()) {
        *rd = rd.get(1..).unwrap_or_default();
        return Ok(None);
    }
    read_u64(rd).map(Some)
}

/// Reads nil or a `Version` (a map of `hlc` and `tiebreak`) as its two numbers.
pub fn read_opt_version(rd: &mut &[u8]) -> Result<Option<(u64, u64)>, String> {
    if rd.first() == Some(&Marker::Null.to_u8()) {
        *rd = rd.get(1..).unwrap_or_default();
        return Ok(None);
    }
    let entries = rmp::decode::read_map_len(rd).map_err(|e| format!("not a version: {e}"))?;
    let (mut hlc, mut tiebreak) = (None, None);
    for _ in 0..entries {
        match read_str(rd)? {
            b"hlc" => hlc = Some(read_u64(rd)?),
            b"tiebreak" => tiebreak = Some(read_u64(rd)?),
            _ => skip_value(rd, 0)?,
        }
    }
    match (hlc, tiebreak) {
        (Some(h), Some(t)) => Ok(Some((h, t))),
        _ => Err("a version without hlc or tiebreak".into()),
    }
}

/// Reads an unsigned integer.
pub fn read_u64(rd: &mut &[u8]) -> Result<u64, String> {
    rmp::decode::read_int(rd).map_err(|e| format!("not an unsigned integer: {e}"))
}

/// Reads a boolean.
pub fn read_bool(rd: &mut &[u8]) -> Result<bool, String> {
    rmp::decode::read_bool(rd).map_err(|e| format!("not a boolean: {e}"))
}

fn advance<'a>(rd: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rd.len() < n {
        return Err("truncated".into());
    }
    let (taken, rest) = rd.split_at(n);
    *rd = rest;
    Ok(taken)
}

fn length(rd: &mut &[u8], width: usize) -> Result<usize, String> {
    let bytes = advance(rd, width)?;
    Ok(bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)))
}

/// Skips one value, whatever it is.
fn skip_value(rd: &mut &[u8], depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    let marker = rmp::decode::read_marker(rd).map_err(|_| "truncated".to_string())?;
    let (bytes, values) = match marker {
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::Null
        | Marker::True
        | Marker::False
        | Marker::Reserved => (0, 0),
        Marker::U8 | Marker::I8 => (1, 0),
        Marker::U16 | Marker::I16 => (2, 0),
        Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
        Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
        Marker::FixStr(n) => (usize::from(n), 0),
        Marker::Str8 | Marker::Bin8 => (length(rd, 1)?, 0),
        Marker::Str16 | Marker::Bin16 => (length(rd, 2)?, 0),
        Marker::Str32 | Marker::Bin32 => (length(rd, 4)?, 0),
        Marker::FixArray(n) => (0, usize::from(n)),
        Marker::Array16 => (0, length(rd, 2)?),
        Marker::Array32 => (0, length(rd, 4)?),
        Marker::FixMap(n) => (0, 2 * usize::from(n)),
        Marker::Map16 => (0, length(rd, 2)?.saturating_mul(2)),
        Marker::Map32 => (0, length(rd, 4)?.saturating_mul(2)),
        Marker::FixExt1 => (2, 0),
        Marker::FixExt2 => (3, 0),
        Marker::FixExt4 => (5, 0),
        Marker::FixExt8 => (9, 0),
        Marker::FixExt16 => (17, 0),
        Marker::Ext8 => (length(rd, 1)?.saturating_add(1), 0),
        Marker::Ext16 => (length(rd, 2)?.saturating_add(1), 0),
        Marker::Ext32 => (length(rd, 4)?.saturating_add(1), 0),
    };
    advance(rd, bytes)?;
    for _ in 0..values {
        skip_value(rd, depth.saturating_add(1))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Sample {
        first: Vec<u8>,
        nested: BTreeMap<String, Vec<(i64, f64, String)>>,
        flag: bool,
        big: u64,
        nothing: Option<u64>,
        text: String,
        after: Vec<u32>,
    }

    fn sample() -> Vec<u8> {
        let mut nested = BTreeMap::new();
        nested.insert("a".repeat(300), vec![(-5, 1.5, "x".repeat(70_000)); 3]);
        rmp_serde::to_vec_named(&Sample {
            first: vec![7; 70_000],
            nested,
            flag: true,
            big: u64::MAX,
            nothing: None,
            text: "é".into(),
            after: (0..20).collect(),
        })
        .unwrap()
    }

    #[test]
    fn picks_fields_after_any_kind_of_value_and_stops_early() {
        let bytes = sample();
        let (mut flag, mut big, mut nothing, mut text) = (None, None, None, None);
        let mut seen = Vec::new();
        for_fields(&bytes, |name, rd| {
            seen.push(String::from_utf8(name.to_vec()).unwrap());
            match name {
                b"flag" => flag = Some(read_bool(rd)?),
                b"big" => big = Some(read_u64(rd)?),
                b"nothing" => nothing = Some(read_opt_u64(rd)?),
                b"text" => text = Some(read_str(rd)?.to_vec()),
                _ => return Ok(Field::Skip),
            }
            Ok(if seen.len() == 6 {
                Field::Enough
            } else {
                Field::Taken
            })
        })
        .unwrap();
        assert_eq!(flag, Some(true));
        assert_eq!(big, Some(u64::MAX));
        assert_eq!(nothing, Some(None));
        assert_eq!(text.as_deref(), Some("é".as_bytes()));
        assert_eq!(seen.len(), 6, "stopped before `after`");
    }

    #[test]
    fn truncated_or_foreign_bytes_are_errors_not_panics() {
        let bytes = sample();
        for cut in [0, 1, 5, 100, 70_010, bytes.len() - 1] {
            let r = for_fields(&bytes[..cut], |_, _| Ok(Field::Skip));
            assert!(r.is_err(), "cut at {cut}");
        }
        assert!(for_fields(b"\x92\x01\x02", |_, _| Ok(Field::Skip)).is_err());
        let mut deep = vec![0x91u8; 100];
        deep.push(0x01);
        let mut map = vec![0x81, 0xa1, b'k'];
        map.extend(deep);
        assert!(for_fields(&map, |_, _| Ok(Field::Skip)).is_err());
    }
}
