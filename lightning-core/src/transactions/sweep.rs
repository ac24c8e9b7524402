//! Spending transactions.
