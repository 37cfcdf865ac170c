//! Jobs and CronJobs: upstream's `pkg/apis/batch/validation`.

use den_apimachinery::validation::{BadValue, is_dns1123_label};
use serde_json::Value;

use super::batch_labels::{CONTROLLER_UID, JOB_NAME, LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME};
use super::gofmt;
use super::pod::validate_pod_template_spec;
use super::*;

const MAX_PARALLELISM_FOR_INDEXED_JOB: i64 = 100_000;
const MAX_FAILED_INDEXES_FOR_INDEXED_JOB: i64 = 100_000;

pub fn validate_job(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = validate_generated_selector(obj);
    let spec = obj.get("spec").unwrap_or(null());
    validate_job_spec_with_selector(&mut errs, spec);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if s(spec, "completionMode") == "Indexed"
        && let Some(completions) = int(spec, "completions").filter(|c| *c > 0)
    {
        let hostname = format!("{name}-{}", completions - 1);
        if !is_dns1123_label(&hostname).is_empty() {
            errs.push(invalid_str(
                "metadata.name",
                name,
                &format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    if let Some(old) = old {
        let old_spec = old.get("spec").unwrap_or(null());
        validate_job_spec_with_selector(&mut errs, spec);
        if s(spec, "completionMode") != "Indexed" {
            immutable(
                &mut errs,
                present(spec, "completions"),
                present(old_spec, "completions"),
                "spec.completions",
                gofmt::optional_int(present(spec, "completions")),
            );
        } else if !semantic_eq(
            present(spec, "completions"),
            present(old_spec, "completions"),
        ) && let Some(completions) = int(spec, "completions")
            && Some(completions) != int(spec, "parallelism")
        {
            errs.push(invalid_int(
                "spec.completions",
                completions,
                "can only be modified in tandem with spec.parallelism",
            ));
        }
        immutable(
            &mut errs,
            present(spec, "selector"),
            present(old_spec, "selector"),
            "spec.selector",
            gofmt::label_selector(present(spec, "selector")),
        );
        let mut template = spec.get("template").cloned().unwrap_or_default();
        let old_template = old_spec.get("template").cloned().unwrap_or_default();
        // A suspended job that never started may change its scheduling directives.
        if mutable_scheduling_directives(obj, old) {
            for (path, field) in [
                ("/spec", "nodeSelector"),
                ("/spec", "tolerations"),
                ("/spec", "schedulingGates"),
                ("/metadata", "annotations"),
                ("/metadata", "labels"),
            ] {
                copy_field(&mut template, &old_template, path, field);
            }
            copy_field(
                &mut template,
                &old_template,
                "/spec/affinity",
                "nodeAffinity",
            );
        }
        if !semantic_eq(Some(&template), Some(&old_template)) {
            errs.push(invalid(
                "spec.template",
                raw("core.PodTemplateSpec{…}".into()),
                IMMUTABLE,
            ));
        }
        for (field, shown) in [
            (
                "completionMode",
                gofmt::optional_str(present(spec, "completionMode")),
            ),
            (
                "podFailurePolicy",
                shown_struct(spec, "podFailurePolicy", "batch.PodFailurePolicy"),
            ),
            (
                "backoffLimitPerIndex",
                gofmt::optional_int(present(spec, "backoffLimitPerIndex")),
            ),
            ("managedBy", gofmt::optional_str(present(spec, "managedBy"))),
            (
                "successPolicy",
                shown_struct(spec, "successPolicy", "batch.SuccessPolicy"),
            ),
        ] {
            immutable(
                &mut errs,
                present(spec, field),
                present(old_spec, field),
                &format!("spec.{field}"),
                shown,
            );
        }
    }
    errs
}

/// Copies `field` of the object at `path` in `old` over the same place in `new`, so a
/// comparison ignores it.
fn copy_field(new: &mut Value, old: &Value, path: &str, field: &str) {
    let value = old.pointer(path).and_then(|o| o.get(field)).cloned();
    let Some(target) = new.pointer_mut(path).and_then(Value::as_object_mut) else {
        return;
    };
    match value {
        Some(v) => target.insert(field.to_string(), v),
        None => target.remove(field),
    };
}

/// Upstream allows a suspended job that has not started to change scheduling directives.
fn mutable_scheduling_directives(new: &Value, old: &Value) -> bool {
    let suspended = |o: &Value| o.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    suspended(new) && suspended(old) && old.pointer("/status/startTime").is_none_or(Value::is_null)
}

fn shown_struct(spec: &Value, field: &str, type_name: &str) -> BadValue {
    match present(spec, field) {
        None => BadValue::Str("null".into()),
        Some(_) => raw(format!("{type_name}{{…}}")),
    }
}

/// Upstream's `validateGeneratedSelector`: an auto-generated selector must be the one the
/// server generated.
fn validate_generated_selector(obj: &Value) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return errs;
    }
    let Some(selector) = present(spec, "selector") else {
        return errs;
    };
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if uid.is_empty() {
        errs.push(required("metadata.uid", ""));
    }
    let template_labels = spec
        .pointer("/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (label, want) in [
        (LEGACY_CONTROLLER_UID, uid),
        (LEGACY_JOB_NAME, name),
        (CONTROLLER_UID, uid),
        (JOB_NAME, name),
    ] {
        match template_labels.get(label).and_then(Value::as_str) {
            None => errs.push(required(
                &format!("spec.template.metadata.labels[{label}]"),
                &format!("must be '{want}'"),
            )),
            Some(actual) if actual != want => errs.push(invalid(
                &format!("spec.template.metadata.labels[{label}]"),
                raw(gofmt::string_map(spec.pointer("/template/metadata/labels"))),
                &format!("must be '{want}'"),
            )),
            Some(_) => {}
        }
    }
    let mut expected = serde_json::Map::new();
    for (label, value) in [
        (CONTROLLER_UID, uid),
        (JOB_NAME, name),
        (LEGACY_CONTROLLER_UID, uid),
        (LEGACY_JOB_NAME, name),
    ] {
        expected.insert(label.into(), Value::String(value.into()));
    }
    if let Some(sel) = as_selector(Some(selector))
        && !sel.matches(&expected)
    {
        errs.push(invalid(
            "spec.selector",
            gofmt::label_selector(Some(selector)),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream's `ValidateJobSpec`: the spec rules plus the selector.
fn validate_job_spec_with_selector(errs: &mut Errors, spec: &Value) {
    validate_job_spec(errs, spec, "spec");
    match present(spec, "selector") {
        None => errs.push(required("spec.selector", "")),
        Some(selector) => label_selector(errs, selector, "spec.selector"),
    }
    if let Some(selector) = as_selector(present(spec, "selector")) {
        selector_matches_template(errs, &selector, spec);
    }
}

/// Upstream's `validateJobSpec`, at `path` (`spec` or a CronJob's `spec.jobTemplate.spec`).
fn validate_job_spec(errs: &mut Errors, spec: &Value, path: &str) {
    for field in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        non_negative(errs, spec, field, &child(path, field));
    }
    if present(spec, "maxFailedIndexes").is_some() {
        non_negative(
            errs,
            spec,
            "maxFailedIndexes",
            &child(path, "maxFailedIndexes"),
        );
        if present(spec, "backoffLimitPerIndex").is_none() {
            errs.push(required(
                &child(path, "backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    let mode = present(spec, "completionMode").and_then(Value::as_str);
    if let Some(mode) = mode {
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(not_supported(
                &child(path, "completionMode"),
                quoted(mode),
                &["NonIndexed", "Indexed"],
            ));
        }
        if mode == "Indexed" {
            if present(spec, "completions").is_none() {
                errs.push(required(
                    &child(path, "completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(parallelism) = int(spec, "parallelism")
                && parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB
            {
                errs.push(invalid_int(
                    &child(path, "parallelism"),
                    parallelism,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
            if let (Some(completions), Some(max_failed)) =
                (int(spec, "completions"), int(spec, "maxFailedIndexes"))
                && max_failed > completions
            {
                errs.push(invalid_int(
                    &child(path, "maxFailedIndexes"),
                    max_failed,
                    "must be less than or equal to completions",
                ));
            }
            if let Some(max_failed) = int(spec, "maxFailedIndexes")
                && max_failed > MAX_FAILED_INDEXES_FOR_INDEXED_JOB
            {
                errs.push(invalid_int(
                    &child(path, "maxFailedIndexes"),
                    max_failed,
                    "must be less than or equal to 100000",
                ));
            }
        }
    }
    if mode.is_none_or(|m| m == "NonIndexed") {
        for field in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if let Some(value) = int(spec, field) {
                errs.push(invalid_int(
                    &child(path, field),
                    value,
                    "requires indexed completion mode",
                ));
            }
        }
    }
    let failure_policy = present(spec, "podFailurePolicy");
    if let Some(policy) = failure_policy {
        let rules = list(policy, "rules");
        if rules.len() > 20 {
            errs.push(too_many(
                &child(path, "podFailurePolicy.rules"),
                rules.len(),
                20,
            ));
        }
    }
    if present(spec, "successPolicy").is_some() && mode != Some("Indexed") {
        errs.push(invalid(
            &child(path, "successPolicy"),
            raw("batch.SuccessPolicy{…}".into()),
            "requires indexed completion mode",
        ));
    }
    if let Some(replacement) = present(spec, "podReplacementPolicy").and_then(Value::as_str) {
        let replacement_path = child(path, "podReplacementPolicy");
        if failure_policy.is_some() {
            if replacement != "Failed" {
                errs.push(not_supported(
                    &replacement_path,
                    quoted(replacement),
                    &["Failed"],
                ));
            }
        } else if !matches!(replacement, "Failed" | "TerminatingOrFailed") {
            errs.push(not_supported(
                &replacement_path,
                quoted(replacement),
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let template = spec.get("template").unwrap_or(null());
    validate_pod_template_spec(errs, template, &child(path, "template"));
    let restart = template
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    let restart_path = child(path, "template.spec.restartPolicy");
    match restart {
        "Always" | "" => errs.push(required(
            &restart_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {
            if failure_policy.is_some() && restart != "Never" {
                errs.push(invalid_str(
                    &restart_path,
                    restart,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        other => errs.push(not_supported(
            &restart_path,
            quoted(other),
            &["OnFailure", "Never"],
        )),
    }
}

pub fn validate_cron_job(obj: &Value, old: Option<&Value>) -> Errors {
    let mut errs = Errors::new();
    let spec = obj.get("spec").unwrap_or(null());
    let old_spec = old.map(|o| o.get("spec").unwrap_or(null()));
    let schedule = s(spec, "schedule");
    if schedule.is_empty() {
        errs.push(required("spec.schedule", ""));
    } else {
        let allow_tz = old_spec.is_some_and(|o| s(o, "schedule").contains("TZ"));
        if let Err(e) = parse_standard_cron(schedule) {
            errs.push(invalid_str("spec.schedule", schedule, &e));
        }
        if allow_tz && schedule.contains("TZ") && present(spec, "timeZone").is_some() {
            errs.push(invalid_str(
                "spec.schedule",
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(invalid_str(
                "spec.schedule",
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    non_negative(
        &mut errs,
        spec,
        "startingDeadlineSeconds",
        "spec.startingDeadlineSeconds",
    );
    if old_spec.is_none_or(|o| !semantic_eq(present(o, "timeZone"), present(spec, "timeZone"))) {
        validate_time_zone(&mut errs, present(spec, "timeZone"));
    }
    one_of(
        &mut errs,
        s(spec, "concurrencyPolicy"),
        "spec.concurrencyPolicy",
        &["Allow", "Forbid", "Replace"],
    );
    let job_spec = spec.pointer("/jobTemplate/spec").unwrap_or(null());
    validate_job_spec(&mut errs, job_spec, "spec.jobTemplate.spec");
    if let Some(selector) = present(job_spec, "selector") {
        errs.push(invalid(
            "spec.jobTemplate.spec.selector",
            gofmt::label_selector(Some(selector)),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        errs.push(not_supported(
            "spec.jobTemplate.spec.manualSelector",
            raw("true".into()),
            &["nil", "false"],
        ));
    }
    non_negative(
        &mut errs,
        spec,
        "successfulJobsHistoryLimit",
        "spec.successfulJobsHistoryLimit",
    );
    non_negative(
        &mut errs,
        spec,
        "failedJobsHistoryLimit",
        "spec.failedJobsHistoryLimit",
    );
    if old.is_none() {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if name.len() > 52 {
            errs.push(invalid_str(
                "metadata.name",
                name,
                "must be no more than 52 characters",
            ));
        }
    }
    errs
}

fn validate_time_zone(errs: &mut Errors, zone: Option<&Value>) {
    let Some(zone) = zone.and_then(Value::as_str) else {
        return;
    };
    let shown = quoted(zone);
    if zone.is_empty() {
        errs.push(invalid(
            "spec.timeZone",
            shown,
            "timeZone must be nil or non-empty string",
        ));
        return;
    }
    for part in zone.split('/') {
        let valid_chars = (1..=14).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'));
        if part == "." || part == ".." || part.starts_with('-') || !valid_chars {
            errs.push(invalid(
                "spec.timeZone",
                shown,
                &format!("unknown time zone {zone}"),
            ));
            return;
        }
    }
    if zone.eq_ignore_ascii_case("Local") {
        errs.push(invalid(
            "spec.timeZone",
            shown,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
}

/// The checks of robfig/cron v3's `ParseStandard` (five fields or a descriptor), with its
/// error messages.
pub fn parse_standard_cron(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let Some(space) = spec.find(' ') else {
            return Err(format!("invalid location descriptior: {spec}"));
        };
        spec = spec[space..].trim();
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            s if s.starts_with("@every ") => {
                let duration = &s["@every ".len()..];
                if is_go_duration(duration) {
                    Ok(())
                } else {
                    Err(format!(
                        "failed to parse duration {s}: time: invalid duration {}",
                        go_quoted(duration)
                    ))
                }
            }
            s => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let bounds: [(u32, u32, &[&str], u32); 5] = [
        (0, 59, &[], 0),
        (0, 23, &[], 0),
        (1, 31, &[], 0),
        (1, 12, MONTHS, 1),
        (0, 6, DAYS, 0),
    ];
    for (field, (min, max, names, name_base)) in fields.iter().zip(bounds) {
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            cron_range(expr, min, max, names, name_base)?;
        }
    }
    Ok(())
}

fn cron_range(
    expr: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let parse = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + name_base);
        }
        match s.parse::<i64>() {
            Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {s}")),
            Ok(n) => Ok(n as u32),
            Err(_) => Err(format!(
                "failed to parse int from {s}: strconv.Atoi: parsing {}: invalid syntax",
                go_quoted(s)
            )),
        }
    };
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (min, max)
    } else {
        let start = parse(low_and_high[0])?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, parse(low_and_high[1])?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    match range_and_step.len() {
        1 => {}
        2 => {
            let step = parse(range_and_step[1])?;
            if step == 0 {
                return Err(format!("step of range should be a positive number: {expr}"));
            }
            if single {
                end = max;
            }
        }
        _ => return Err(format!("too many slashes: {expr}")),
    }
    if start < min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({min}): {expr}"
        ));
    }
    if end > max {
        return Err(format!(
            "end of range ({end}) above maximum ({max}): {expr}"
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

/// Go's `time.ParseDuration` grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`.
fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits] == *"." {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| rest.starts_with(**u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}
