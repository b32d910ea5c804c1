//! Streaming CSV reading and cleaning.
//!
//! The CSV is parsed record by record into fixed-size rows, so memory grows
//! with the number of clean rows, not with the size of the text. Every byte
//! read also feeds a SHA-256, which identifies the input in the artifact.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, Read};

use model_artifact::DroppedRows;
use sha2::{Digest, Sha256};
use tracing::info;

use crate::iris::{CLASS_COUNT, CLASS_NAMES, FEATURE_COUNT, FEATURE_NAMES, TARGET_COLUMN};
use crate::EtlError;

/// Minimum number of rows per class, because a stratified split puts at
/// least one row of each class in each part.
pub const MIN_ROWS_PER_CLASS: usize = 2;

/// Minimum number of clean rows a run trains on.
pub const MIN_ROWS: usize = 10;

/// Size of the CSV reader's buffer, in bytes.
const READ_BUFFER_BYTES: usize = 1 << 16;

/// Feature values of one row, in [`FEATURE_NAMES`] order.
pub type Features = [f64; FEATURE_COUNT];

/// The clean rows of an input CSV and what cleaning removed.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanData {
    pub features: Vec<Features>,
    /// Class index of each row.
    pub classes: Vec<u8>,
    /// Data rows read, header excluded.
    pub rows_read: u64,
    pub dropped: DroppedRows,
    /// Lowercase hex SHA-256 of every byte read from the input.
    pub input_sha256: String,
}

/// Reason for dropping a row; the variants are in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropReason {
    MissingValue,
    NonNumeric,
    NonFinite,
    UnknownLabel,
}

/// Positions of the needed columns in each record.
struct Columns {
    features: [usize; FEATURE_COUNT],
    target: usize,
}

/// Reads `input` as CSV with a header row, drops invalid and duplicate rows
/// and checks that enough rows of every class are left.
///
/// Columns are found by name, in any order, and other columns are ignored.
/// A row is dropped, and counted under the first reason that applies, for:
///
/// - missing value: a needed field is empty or absent;
/// - non-numeric: a feature is not a number;
/// - non-finite: a feature is NaN or infinite, including numbers beyond the
///   range of `f64`;
/// - unknown label: the target is not a class index 0, 1 or 2;
/// - duplicate: its features and target equal those of an earlier row.
pub fn read_csv<R: Read>(input: R) -> Result<CleanData, EtlError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .buffer_capacity(READ_BUFFER_BYTES)
        .from_reader(HashingReader::new(input));
    let columns = find_columns(reader.byte_headers().map_err(csv_error)?)?;

    let mut data = CleanData {
        features: Vec::new(),
        classes: Vec::new(),
        rows_read: 0,
        dropped: DroppedRows::default(),
        input_sha256: String::new(),
    };
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        data.rows_read += 1;
        match parse_row(&record, &columns) {
            Ok((features, class)) => {
                data.features.push(features);
                data.classes.push(class);
            }
            Err(reason) => count_drop(&mut data.dropped, reason),
        }
    }
    data.input_sha256 = reader.into_inner().finish()?;

    data.dropped.duplicate = drop_duplicates(&mut data.features, &mut data.classes);
    info!(
        rows_read = data.rows_read,
        rows_kept = data.features.len(),
        missing_value = data.dropped.missing_value,
        non_numeric = data.dropped.non_numeric,
        non_finite = data.dropped.non_finite,
        unknown_label = data.dropped.unknown_label,
        duplicate = data.dropped.duplicate,
        "cleaned input rows"
    );
    check_row_counts(&data.classes)?;
    Ok(data)
}

fn csv_error(source: csv::Error) -> EtlError {
    EtlError::Csv {
        line: source.position().map(csv::Position::line),
        source,
    }
}

fn find_columns(headers: &csv::ByteRecord) -> Result<Columns, EtlError> {
    let position = |name: &str| -> Result<usize, EtlError> {
        headers
            .iter()
            .position(|header| header == name.as_bytes())
            .ok_or_else(|| EtlError::MissingColumn {
                column: name.to_owned(),
                found: headers
                    .iter()
                    .map(|header| String::from_utf8_lossy(header).into_owned())
                    .collect(),
            })
    };
    let mut features = [0; FEATURE_COUNT];
    for (slot, name) in features.iter_mut().zip(FEATURE_NAMES) {
        *slot = position(name)?;
    }
    Ok(Columns {
        features,
        target: position(TARGET_COLUMN)?,
    })
}

fn parse_row(record: &csv::ByteRecord, columns: &Columns) -> Result<(Features, u8), DropReason> {
    let field = |position: usize| record.get(position).unwrap_or_default();
    let target = field(columns.target);
    if target.is_empty()
        || columns
            .features
            .iter()
            .any(|&position| field(position).is_empty())
    {
        return Err(DropReason::MissingValue);
    }

    let mut features = [0.0; FEATURE_COUNT];
    for (value, &position) in features.iter_mut().zip(&columns.features) {
        *value = parse_number(field(position)).ok_or(DropReason::NonNumeric)?;
    }
    if features.iter().any(|value| !value.is_finite()) {
        return Err(DropReason::NonFinite);
    }
    let class = parse_class(target).ok_or(DropReason::UnknownLabel)?;
    Ok((features, class))
}

/// Parses a decimal number. `-0` becomes `0`, so that rows equal in value
/// are also equal bit for bit.
fn parse_number(field: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(field).ok()?;
    let value: f64 = text.parse().ok()?;
    Some(value + 0.0)
}

/// Parses a class index: `0`, `1` or `2`, also written as a float (`1.0`).
fn parse_class(field: &[u8]) -> Option<u8> {
    match field {
        b"0" => return Some(0),
        b"1" => return Some(1),
        b"2" => return Some(2),
        _ => {}
    }
    let value = parse_number(field)?;
    (0..CLASS_COUNT as u8).find(|&class| f64::from(class) == value)
}

fn count_drop(dropped: &mut DroppedRows, reason: DropReason) {
    let counter = match reason {
        DropReason::MissingValue => &mut dropped.missing_value,
        DropReason::NonNumeric => &mut dropped.non_numeric,
        DropReason::NonFinite => &mut dropped.non_finite,
        DropReason::UnknownLabel => &mut dropped.unknown_label,
    };
    *counter += 1;
}

/// Removes every row whose features and class equal those of an earlier
/// row, keeping the first, and returns how many were removed.
///
/// Rows are sorted by a 64-bit hash of their content, so equal rows end up
/// next to each other and only rows with equal hashes are compared. The
/// sorted `(hash, row)` pairs take 16 bytes per row, far less than a hash
/// set of whole rows, and sorting them reads memory in order.
fn drop_duplicates(features: &mut Vec<Features>, classes: &mut Vec<u8>) -> u64 {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    drop_duplicates_by_hash(features, classes, |key| hasher.hash_one(key))
}

type RowKey = ([u64; FEATURE_COUNT], u8);

/// [`drop_duplicates`] with the row hash as a parameter, so that tests can
/// force hash collisions.
fn drop_duplicates_by_hash(
    features: &mut Vec<Features>,
    classes: &mut Vec<u8>,
    hash: impl Fn(RowKey) -> u64,
) -> u64 {
    let key = |row: usize| -> RowKey { (features[row].map(f64::to_bits), classes[row]) };
    let mut order: Vec<(u64, usize)> = (0..features.len())
        .map(|row| (hash(key(row)), row))
        .collect();
    order.sort_unstable();

    let mut keep = vec![true; features.len()];
    for run in order
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
    {
        // Rows in a run are in file order, so the first of equal rows stays.
        for (position, &(_, row)) in run.iter().enumerate() {
            let repeats_earlier = run[..position]
                .iter()
                .any(|&(_, earlier)| keep[earlier] && key(earlier) == key(row));
            keep[row] = !repeats_earlier;
        }
    }
    drop(order);

    let mut flags = keep.iter();
    features.retain(|_| *flags.next().expect("one flag per row"));
    let mut flags = keep.iter();
    classes.retain(|_| *flags.next().expect("one flag per row"));
    keep.iter().filter(|&&kept| !kept).count() as u64
}

fn check_row_counts(classes: &[u8]) -> Result<(), EtlError> {
    let mut counts = [0usize; CLASS_COUNT];
    for &class in classes {
        counts[usize::from(class)] += 1;
    }
    for (class, &found) in counts.iter().enumerate() {
        if found == 0 {
            return Err(EtlError::ClassWithoutRows {
                class,
                name: CLASS_NAMES[class],
            });
        }
        if found < MIN_ROWS_PER_CLASS {
            return Err(EtlError::TooFewRowsInClass {
                class,
                name: CLASS_NAMES[class],
                found,
                min: MIN_ROWS_PER_CLASS,
            });
        }
    }
    if classes.len() < MIN_ROWS {
        return Err(EtlError::TooFewRows {
            found: classes.len(),
            min: MIN_ROWS,
        });
    }
    Ok(())
}

/// A reader that hashes every byte it passes on.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Reads what the CSV parser left unread, so the digest covers the whole
    /// input, and returns it as lowercase hex.
    fn finish(mut self) -> Result<String, EtlError> {
        io::copy(&mut self, &mut io::sink()).map_err(|source| EtlError::ReadInput { source })?;
        Ok(hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..count]);
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
