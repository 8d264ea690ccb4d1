//! Checked values: parameters that passed their validation once (linfa's habit). Only a `check`
//! function makes a [`Checked`], so whatever takes one need not validate again, and a value that
//! could be bad never reaches the training loop.

use std::ops::Deref;

/// A `T` that passed its `check`.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked<T>(T);

impl<T> Checked<T> {
    /// Wraps a value its `check` function has just validated.
    pub(crate) fn assume_checked(value: T) -> Self {
        Checked(value)
    }

    /// The value, to change it (and check it again).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
