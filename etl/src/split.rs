//! Shuffled, stratified train/test split.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::iris::CLASS_COUNT;

/// Row indices of each part, in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Splits rows so that each class keeps its proportion in both parts.
///
/// All rows are shuffled once with a ChaCha8 generator seeded with `seed`
/// (so the split is the same on every platform), and the first
/// `round(rows * test_fraction)` rows of each class in that order go to the
/// test part. The count is clamped so that both parts get at least one row
/// of a class with two or more rows.
pub fn stratified_split(classes: &[u8], test_fraction: f64, seed: u64) -> Split {
    let mut class_sizes = [0usize; CLASS_COUNT];
    for &class in classes {
        class_sizes[usize::from(class)] += 1;
    }
    let quotas = class_sizes.map(|size| test_count(size, test_fraction));

    let mut order: Vec<usize> = (0..classes.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut test_rows_taken = [0usize; CLASS_COUNT];
    let mut split = Split {
        train: Vec::with_capacity(classes.len()),
        test: Vec::with_capacity(quotas.iter().sum()),
    };
    for row in order {
        let class = usize::from(classes[row]);
        if test_rows_taken[class] < quotas[class] {
            test_rows_taken[class] += 1;
            split.test.push(row);
        } else {
            split.train.push(row);
        }
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    split
}

fn test_count(rows: usize, test_fraction: f64) -> usize {
    let count = (rows as f64 * test_fraction).round() as usize;
    if rows < 2 {
        return 0;
    }
    count.clamp(1, rows - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_counts(classes: &[u8], rows: &[usize]) -> [usize; CLASS_COUNT] {
        let mut counts = [0; CLASS_COUNT];
        for &row in rows {
            counts[usize::from(classes[row])] += 1;
        }
        counts
    }

    #[test]
    fn split_keeps_class_proportions() {
        // 100, 50 and 250 rows, interleaved so that the order gives no help.
        let mut classes = Vec::new();
        for i in 0..400 {
            classes.push(match i % 8 {
                0 | 1 => 0,
                2 => 1,
                _ => 2,
            });
        }
        let split = stratified_split(&classes, 0.2, 7);
        assert_eq!(class_counts(&classes, &split.test), [20, 10, 50]);
        assert_eq!(class_counts(&classes, &split.train), [80, 40, 200]);
    }

    #[test]
    fn split_partitions_rows() {
        let classes: Vec<u8> = (0..150).map(|i| (i % 3) as u8).collect();
        let split = stratified_split(&classes, 0.3, 1);
        let mut all: Vec<usize> = split.train.iter().chain(&split.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..150).collect::<Vec<_>>());
        assert_eq!(split.test.len(), 45);
    }

    #[test]
    fn tiny_fraction_still_tests_each_class() {
        let classes: Vec<u8> = (0..300).map(|i| (i % 3) as u8).collect();
        let split = stratified_split(&classes, 0.001, 5);
        assert_eq!(class_counts(&classes, &split.test), [1, 1, 1]);
    }

    #[test]
    fn split_depends_on_seed_only() {
        let classes: Vec<u8> = (0..90).map(|i| (i % 3) as u8).collect();
        let first = stratified_split(&classes, 0.2, 42);
        assert_eq!(first, stratified_split(&classes, 0.2, 42));
        assert_ne!(first.test, stratified_split(&classes, 0.2, 43).test);
    }

    #[test]
    fn small_classes_reach_both_parts() {
        // Two rows per class: 2 * 0.1 rounds to 0 and 2 * 0.9 to 2, and
        // both are clamped to one test row.
        let classes = [0, 0, 1, 1, 2, 2];
        for fraction in [0.1, 0.9] {
            let split = stratified_split(&classes, fraction, 0);
            assert_eq!(class_counts(&classes, &split.test), [1, 1, 1]);
            assert_eq!(class_counts(&classes, &split.train), [1, 1, 1]);
        }
    }
}
