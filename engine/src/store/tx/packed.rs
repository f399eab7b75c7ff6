//! Many small integer rows read as one packed text value.
//!
//! sqlx hands every SQLite row from its worker thread to the caller as a
//! message of its own (about 2 µs a row here), while SQLite itself reads a
//! row of an index in well under 1 µs. A query that must read tens of
//! thousands of rows (a quarter's timeline, a busy environment's DORA
//! weeks) therefore packs them with `group_concat` into one value —
//! fields joined by `,`, rows by `;`, a NULL as an empty field — and
//! [`rows`] unpacks it.

use crate::error::{Error, Result};

/// The rows of `packed` (`None`: no rows), each of exactly `N` integer
/// fields; an empty field is `None`.
pub(crate) fn rows<const N: usize>(packed: Option<&str>) -> Result<Vec<[Option<i64>; N]>> {
    let Some(packed) = packed.filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    packed
        .split(';')
        .map(|row| {
            let mut fields = [None; N];
            let mut parts = row.split(',');
            for field in &mut fields {
                let part = parts.next().ok_or_else(|| malformed(row))?;
                if !part.is_empty() {
                    *field = Some(part.parse().map_err(|_| malformed(row))?);
                }
            }
            match parts.next() {
                Some(_) => Err(malformed(row)),
                None => Ok(fields),
            }
        })
        .collect()
}

fn malformed(row: &str) -> Error {
    Error::Database(sqlx::Error::Decode(
        format!("a packed row is malformed: {row:?}").into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_rows_fields_and_nulls() {
        assert_eq!(
            rows::<3>(Some("1,2,3;-4,,6")).unwrap(),
            vec![[Some(1), Some(2), Some(3)], [Some(-4), None, Some(6)]]
        );
        assert!(rows::<2>(None).unwrap().is_empty());
        assert!(rows::<2>(Some("")).unwrap().is_empty());
    }

    #[test]
    fn a_row_of_another_width_or_a_word_is_an_error() {
        assert!(rows::<2>(Some("1,2,3")).is_err());
        assert!(rows::<2>(Some("1")).is_err());
        assert!(rows::<2>(Some("1,x")).is_err());
    }
}
