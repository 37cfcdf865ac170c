//! Pure Kubernetes API machinery: request classification, label and field
//! selectors, name/metadata validation and metav1.Status errors, following
//! upstream k8s.io/apimachinery and k8s.io/apiserver (v1.33).

pub mod fields;
pub mod labels;
pub mod quantity;
pub mod quota;
pub mod request_info;
pub mod schema;
pub mod status;
pub mod validation;
