//! AWS provider
