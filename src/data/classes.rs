//! Class identity: which of a fitted model's classes a label names, and classes in messages.

use super::FASHION_CLASS_NAMES;

/// Largest number of classes listed in full in a message.
const CLASSES_SHOWN: usize = 20;

/// `names` as a comma-separated list, shortened in the middle when long.
pub fn list_classes(names: &[String]) -> String {
    if names.len() <= CLASSES_SHOWN {
        return names.join(", ");
    }
    let head = names[..CLASSES_SHOWN - 3].join(", ");
    let tail = names[names.len() - 2..].join(", ");
    format!("{head}, … ({} more), {tail}", names.len() - CLASSES_SHOWN + 1)
}

/// The class among `classes` (a model's, in its order) that a label written as `written` names:
/// the class of that name; for data whose labels are numbers with display names (IDX files of
/// Fashion-MNIST), the class of that display name; and for a model whose classes are the
/// Fashion-MNIST names, the number of the class in that data set's documentation (0 = T-shirt/top
/// … 9 = Ankle boot), so its CSV and IDX files with numeric labels fit a model fitted on either.
pub fn class_of(classes: &[String], written: &str, display: Option<&str>) -> Option<usize> {
    if let Some(c) = classes.iter().position(|n| n == written) {
        return Some(c);
    }
    if let Some(c) = display.and_then(|d| classes.iter().position(|n| n == d)) {
        return Some(c);
    }
    let fashion = classes.len() == FASHION_CLASS_NAMES.len() && classes.iter().zip(FASHION_CLASS_NAMES).all(|(a, b)| a == b);
    written.parse::<usize>().ok().filter(|&i| fashion && i < classes.len())
}
