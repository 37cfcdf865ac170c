//! scratch
#[cfg(test)]
mod tests {
    #[test]
    #[ignore]
    fn strategicpatch_dump() {
        let table = crate::resources::ResourceTable::builtin();
        let o = crate::openapi::OpenApi::new(&table);
        let v: serde_json::Value = serde_json::from_slice(&o.v2()).unwrap();
        for n in [
            "io.k8s.api.core.v1.PodSpec",
            "io.k8s.api.apps.v1.DeploymentSpec",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.api.core.v1.Pod",
            "io.k8s.api.core.v1.Container",
        ] {
            let mut d = v["definitions"][n].clone();
            if let Some(p) = d.get_mut("properties").and_then(|p| p.as_object_mut()) {
                for (_, x) in p.iter_mut() {
                    if let Some(m) = x.as_object_mut() {
                        m.remove("description");
                    }
                }
            }
            d.as_object_mut().unwrap().remove("description");
            println!("{n}: {d}");
        }
    }
}
