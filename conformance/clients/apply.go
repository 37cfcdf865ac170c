package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv1ac "k8s.io/client-go/applyconfigurations/autoscaling/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

// owners returns, for each managedFields entry whose fieldsV1 contains every one of the given
// field keys (e.g. `"f:a"`), "manager/operation[/subresource]".
func owners(mfs []metav1.ManagedFieldsEntry, keys ...string) []string {
	out := []string{}
	for _, mf := range mfs {
		if mf.FieldsV1 == nil {
			continue
		}
		raw := string(mf.FieldsV1.Raw)
		all := true
		for _, k := range keys {
			all = all && strings.Contains(raw, k)
		}
		if all {
			o := mf.Manager + "/" + string(mf.Operation)
			if mf.Subresource != "" {
				o += "/" + mf.Subresource
			}
			out = append(out, o)
		}
	}
	sort.Strings(out)
	return out
}

func describeManagedFields(mfs []metav1.ManagedFieldsEntry) string {
	parts := []string{}
	for _, mf := range mfs {
		raw := ""
		if mf.FieldsV1 != nil {
			raw = string(mf.FieldsV1.Raw)
		}
		parts = append(parts, fmt.Sprintf("{%s %s %q %s}", mf.Manager, mf.Operation, mf.Subresource, raw))
	}
	return strings.Join(parts, " ")
}

func expectOwners(what string, mfs []metav1.ManagedFieldsEntry, want []string, keys ...string) {
	got := owners(mfs, keys...)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		failf("%s: owners of %v = %v, want %v (managedFields: %s)", what, keys, got, want, describeManagedFields(mfs))
	}
}

// serverSideApply: typed apply configurations for a ConfigMap and a Deployment (and the
// Deployment's scale subresource), field managers, conflicts, forcing, shared ownership, removal
// of fields no longer applied, and extraction of a manager's fields.
func (s *suite) serverSideApply(ctx context.Context) {
	cms := s.kube.CoreV1().ConfigMaps(s.ns)
	const a, b = "den-clients-a", "den-clients-b"

	cm, err := cms.Apply(ctx, corev1ac.ConfigMap("ssa-cm", s.ns).
		WithLabels(map[string]string{"app": "den-clients"}).
		WithData(map[string]string{"a": "1", "b": "2"}),
		metav1.ApplyOptions{FieldManager: a, Force: true})
	must(err, "apply ConfigMap ssa-cm as %s", a)
	if cm.Data["a"] != "1" || cm.Data["b"] != "2" || cm.Labels["app"] != "den-clients" {
		failf("applied ssa-cm: data %v labels %v", cm.Data, cm.Labels)
	}
	expectOwners("ssa-cm after first apply", cm.ManagedFields, []string{a + "/Apply"}, `"f:a"`, `"f:b"`, `"f:app"`)
	if mf := cm.ManagedFields[0]; mf.APIVersion != "v1" || mf.FieldsType != "FieldsV1" || mf.Time == nil {
		failf("managedFields entry %+v: want apiVersion v1, fieldsType FieldsV1 and a time", mf)
	}
	s.pass("apply creates a ConfigMap; managedFields: %s owns data.a, data.b, labels (Apply)", a)

	_, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa-cm", s.ns).WithData(map[string]string{"a": "other"}),
		metav1.ApplyOptions{FieldManager: b})
	if !apierrors.IsConflict(err) {
		failf("apply of a field owned by another manager without force: err %s, want 409 Conflict", errString(err))
	}
	if msg := err.Error(); !strings.Contains(msg, a) || !strings.Contains(msg, ".data.a") {
		failf("conflict message %q does not name the owner %s and the field .data.a", msg, a)
	}
	s.pass("a second manager's conflicting apply is a Conflict (errors.IsConflict) naming owner and field")

	cm, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa-cm", s.ns).WithData(map[string]string{"a": "1"}),
		metav1.ApplyOptions{FieldManager: b})
	must(err, "apply of an equal value by %s (no force)", b)
	expectOwners("ssa-cm after equal-value apply", cm.ManagedFields, []string{a + "/Apply", b + "/Apply"}, `"f:a"`)
	s.pass("applying an equal value shares ownership without a conflict")

	cm, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa-cm", s.ns).WithData(map[string]string{"a": "forced"}),
		metav1.ApplyOptions{FieldManager: b, Force: true})
	must(err, "forced apply by %s", b)
	if cm.Data["a"] != "forced" {
		failf("forced apply: data.a = %q, want forced", cm.Data["a"])
	}
	expectOwners("ssa-cm after forced apply", cm.ManagedFields, []string{b + "/Apply"}, `"f:a"`)
	expectOwners("ssa-cm after forced apply", cm.ManagedFields, []string{a + "/Apply"}, `"f:b"`)
	s.pass("forced apply takes ownership from the other manager")

	// Manager a now applies only data.b: nothing of a's is dropped (it no longer owns data.a).
	cm, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa-cm", s.ns).WithData(map[string]string{"b": "2"}),
		metav1.ApplyOptions{FieldManager: a})
	must(err, "apply of data.b only by %s", a)
	extracted, err := corev1ac.ExtractConfigMap(cm, a)
	must(err, "ExtractConfigMap for %s", a)
	if extracted.Data == nil || len(extracted.Data) != 1 || extracted.Data["b"] != "2" || extracted.Labels != nil {
		failf("ExtractConfigMap(%s): data %v labels %v, want data {b:2} and no labels (labels dropped by the last apply)", a, extracted.Data, extracted.Labels)
	}
	if cm.Labels["app"] != "" || cm.Data["a"] != "forced" {
		failf("after %s stopped applying labels: labels %v data %v; want label app removed, data.a kept (owned by %s)", a, cm.Labels, cm.Data, b)
	}
	s.pass("fields a manager stops applying are removed unless another manager owns them; ExtractConfigMap")

	cm.Data["c"] = "3"
	cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "den-clients-updater"})
	must(err, "update ssa-cm with field manager den-clients-updater")
	expectOwners("ssa-cm after update", cm.ManagedFields, []string{"den-clients-updater/Update"}, `"f:c"`)
	s.pass("a plain update records its manager with operation Update")

	// Deployment.
	deps := s.kube.AppsV1().Deployments(s.ns)
	podLabels := map[string]string{"app": "ssa-deploy"}
	dep, err := deps.Apply(ctx, appsv1ac.Deployment("ssa-deploy", s.ns).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(2).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(podLabels)).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(podLabels).
				WithSpec(corev1ac.PodSpec().WithContainers(
					corev1ac.Container().WithName("app").WithImage("registry.k8s.io/pause:3.10"))))),
		metav1.ApplyOptions{FieldManager: a, Force: true})
	must(err, "apply Deployment ssa-deploy as %s", a)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 || len(dep.Spec.Template.Spec.Containers) != 1 {
		failf("applied deployment: replicas %v containers %d", dep.Spec.Replicas, len(dep.Spec.Template.Spec.Containers))
	}
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || dep.Spec.Template.Spec.Containers[0].TerminationMessagePath == "" {
		failf("applied deployment not defaulted: strategy %q, terminationMessagePath %q", dep.Spec.Strategy.Type, dep.Spec.Template.Spec.Containers[0].TerminationMessagePath)
	}
	expectOwners("ssa-deploy after apply", dep.ManagedFields, []string{a + "/Apply"}, `"f:replicas"`, `"k:{\"name\":\"app\"}"`)
	s.pass("apply creates a Deployment (defaulted); %s owns spec.replicas and containers[name=app]", a)

	_, err = deps.Apply(ctx, appsv1ac.Deployment("ssa-deploy", s.ns).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(3)),
		metav1.ApplyOptions{FieldManager: b})
	if !apierrors.IsConflict(err) {
		failf("apply of spec.replicas by %s without force: err %s, want 409 Conflict", b, errString(err))
	}
	s.pass("conflicting apply of spec.replicas by a second manager is a Conflict")

	// Manager b adds a second container: containers is a map keyed by name, so both stay.
	sidecar := appsv1ac.Deployment("ssa-deploy", s.ns).WithSpec(appsv1ac.DeploymentSpec().
		WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(
			corev1ac.Container().WithName("sidecar").WithImage("registry.k8s.io/pause:3.10")))))
	dep, err = deps.Apply(ctx, sidecar, metav1.ApplyOptions{FieldManager: b})
	must(err, "apply of a sidecar container by %s", b)
	containers := []string{}
	for _, c := range dep.Spec.Template.Spec.Containers {
		containers = append(containers, c.Name)
	}
	if strings.Join(containers, ",") != "app,sidecar" {
		failf("after %s applied a sidecar: containers %v, want [app sidecar]", b, containers)
	}
	expectOwners("ssa-deploy sidecar", dep.ManagedFields, []string{b + "/Apply"}, `"k:{\"name\":\"sidecar\"}"`)
	s.pass("a second manager's container merges by name (associative list)")

	dep, err = deps.Apply(ctx, appsv1ac.Deployment("ssa-deploy", s.ns), metav1.ApplyOptions{FieldManager: b})
	must(err, "empty apply by %s", b)
	if n := len(dep.Spec.Template.Spec.Containers); n != 1 || dep.Spec.Template.Spec.Containers[0].Name != "app" {
		failf("after %s applied nothing: %d containers, want only app", b, n)
	}
	s.pass("the sidecar is removed when its only manager stops applying it")

	scale, err := deps.ApplyScale(ctx, "ssa-deploy", autoscalingv1ac.Scale().WithSpec(autoscalingv1ac.ScaleSpec().WithReplicas(5)),
		metav1.ApplyOptions{FieldManager: "den-clients-scaler", Force: true})
	must(err, "apply scale of ssa-deploy")
	if scale.Spec.Replicas != 5 {
		failf("apply scale: spec.replicas %d, want 5", scale.Spec.Replicas)
	}
	dep, err = deps.Get(ctx, "ssa-deploy", metav1.GetOptions{})
	must(err, "get ssa-deploy")
	if *dep.Spec.Replicas != 5 {
		failf("after apply scale: deployment spec.replicas %d, want 5", *dep.Spec.Replicas)
	}
	expectOwners("ssa-deploy after apply scale", dep.ManagedFields, []string{"den-clients-scaler/Apply/scale"}, `"f:replicas"`)
	s.pass("apply of the scale subresource sets replicas, owned under subresource scale")

	_, err = deps.Apply(ctx, appsv1ac.Deployment("ssa-deploy", s.ns).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(2)),
		metav1.ApplyOptions{FieldManager: a})
	if !apierrors.IsConflict(err) {
		failf("re-apply of replicas by %s after the scaler took them: err %s, want Conflict", a, errString(err))
	}
	s.pass("the original manager now conflicts on spec.replicas")

	// Applying with a wrong kind or without a field manager is rejected as upstream does.
	_, err = cms.Apply(ctx, corev1ac.ConfigMap("ssa-cm", s.ns), metav1.ApplyOptions{})
	if err == nil {
		failf("apply without a field manager succeeded; want an error (client-go refuses it)")
	}
	_, err = s.kube.CoreV1().Pods(s.ns).Apply(ctx, corev1ac.Pod("ssa-pod", s.ns).WithSpec(corev1ac.PodSpec()),
		metav1.ApplyOptions{FieldManager: a})
	if code := statusCode(err); code != 422 {
		failf("apply creating an invalid pod (no containers): err %s, want 422 Invalid", errString(err))
	}
	s.pass("invalid applies are rejected (missing field manager, invalid object 422)")
}
