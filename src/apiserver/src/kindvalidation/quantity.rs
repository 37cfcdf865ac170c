//! Upstream's `resource.Quantity` lives in `den_apimachinery::quantity`, shared with the
//! controllers; this path keeps the validation code's imports short.

pub use den_apimachinery::quantity::*;
