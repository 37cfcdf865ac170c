//! Structural schemas for CustomResourceDefinitions, following upstream
//! k8s.io/apiextensions-apiserver (v1.33) `pkg/apiserver/schema` and
//! `pkg/apiserver/validation`:
//!
//! - [`Structural::from_json`]: parse a version's `openAPIV3Schema` and apply
//!   the checks upstream runs when a CRD is created (structural invariants,
//!   default validation, OpenAPI schema restrictions); defaults are pruned.
//! - [`prune`]: drop fields the schema does not specify.
//! - [`apply_defaults`]: apply `default` values.
//! - [`validate`]: validate a custom resource (kube-openapi messages), and
//!   [`validate_list_sets_and_maps`] for `x-kubernetes-list-type` uniqueness.
//!
//! `x-kubernetes-validations` (CEL) rules are parsed and kept in
//! [`Structural::x_validations`] but not evaluated here.

mod cel;
mod checks;
mod defaulting;
mod formats;
mod gofmt;
mod listtype;
mod pruning;
mod regex_cache;
mod structural;
mod validate;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::validation::Cause;

pub use self::cel::{UNSUPPORTED_FUNCTIONS, compile_rules, has_cel_rules, validate_cel};
/// CEL for admission policies: compile once, evaluate with [`cel`] contexts.
pub mod admission_cel {
    pub use super::cel::{
        MAX_MESSAGE_EXPRESSION_BYTES, RESERVED_WORDS, ReturnType, compile_admission, error_string,
        json_to_cel, new_environment,
    };
}
pub use checks::validate_crd_schema;
pub use defaulting::{apply_defaults, prune_defaults, prune_non_nullable_nulls_without_defaults};
pub use gofmt::{go_float, go_sharp_v};
pub use listtype::validate_list_sets_and_maps;
pub use pruning::{prune, prune_object_meta};
pub use structural::{
    AdditionalProperties, Extensions, Generic, Structural, ValidationRule, ValueValidation,
};
pub use validate::{validate, validate_at};

/// Where upstream reports schema errors of a CRD whose versions share one
/// schema (v1 CRDs are converted to the internal version, which hoists an
/// identical per-version schema to `spec.validation`).
pub const DEFAULT_SCHEMA_PATH: &str = "spec.validation.openAPIV3Schema";

impl Structural {
    /// Parses and checks a CRD version's `openAPIV3Schema`, reporting errors
    /// under [`DEFAULT_SCHEMA_PATH`]. Defaults of the result are pruned.
    pub fn from_json(schema: &Value) -> Result<Structural, Vec<Cause>> {
        Self::from_json_at(schema, DEFAULT_SCHEMA_PATH)
    }

    /// Like [`Structural::from_json`], reporting errors under `path` (e.g.
    /// `spec.versions[1].schema.openAPIV3Schema`).
    pub fn from_json_at(schema: &Value, path: &str) -> Result<Structural, Vec<Cause>> {
        let errs = validate_crd_schema(schema, path);
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut s = Structural::parse(schema).map_err(|e| {
            vec![
                crate::validation::FieldError::invalid(
                    path,
                    crate::validation::BadValue::Str(String::new()),
                    &e,
                )
                .to_cause(),
            ]
        })?;
        prune_defaults(&mut s);
        Ok(s)
    }
}
