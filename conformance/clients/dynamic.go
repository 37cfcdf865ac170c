package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func (s *suite) widgetGVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: s.crdGroup, Version: "v1", Resource: "widgets"}
}

// ensureCRD creates the Widget CRD (once) and waits for its Established condition.
func (s *suite) ensureCRD(ctx context.Context) {
	if s.crdReady {
		return
	}
	name := "widgets." + s.crdGroup
	crds := s.ext.ApiextensionsV1().CustomResourceDefinitions()
	_, err := crds.Create(ctx, &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: s.crdGroup,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size":  {Type: "integer"},
							"color": {Type: "string"},
							"tags":  {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
						}},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"phase": {Type: "string"},
						}},
					},
				}},
			}},
		},
	}, metav1.CreateOptions{})
	must(err, "create CRD %s", name)
	s.crdReady = true // from here on cleanup deletes it
	eventually(ctx, 20*time.Second, fmt.Sprintf("CRD %s condition Established=True", name), func() (bool, string) {
		crd, err := crds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("conditions %+v", crd.Status.Conditions)
	})
}

func widget(name string, size int64, color string, lbls map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "", // set by caller
		"kind":       "Widget",
		"metadata":   map[string]any{"name": name},
		"spec":       map[string]any{"size": size, "color": color},
	}}
	if lbls != nil {
		u.Object["metadata"].(map[string]any)["labels"] = lbls
	}
	return u
}

func names(items []unstructured.Unstructured) []string {
	out := []string{}
	for _, i := range items {
		out = append(out, i.GetName())
	}
	sort.Strings(out)
	return out
}

// dynamicClient: a CRD, then create/get/list/watch/patch/apply/status/delete of custom objects
// through the dynamic client, plus a dynamic informer and discovery.
func (s *suite) dynamicClient(ctx context.Context) {
	s.ensureCRD(ctx)
	s.pass("CRD widgets.%s created and Established", s.crdGroup)

	gvr := s.widgetGVR()
	apiVersion := gvr.GroupVersion().String()
	eventually(ctx, 10*time.Second, "discovery lists widgets in "+apiVersion, func() (bool, string) {
		rl, err := s.kube.Discovery().ServerResourcesForGroupVersion(apiVersion)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rl.APIResources {
			if r.Name == "widgets" && r.Kind == "Widget" && r.Namespaced {
				return true, ""
			}
		}
		return false, fmt.Sprintf("resources %v", rl.APIResources)
	})
	_, lists, err := s.kube.Discovery().ServerGroupsAndResources()
	must(err, "discovery ServerGroupsAndResources")
	found := false
	for _, l := range lists {
		if l.GroupVersion == apiVersion {
			for _, r := range l.APIResources {
				found = found || r.Name == "widgets" || r.Name == "widgets/status"
			}
		}
	}
	if !found {
		failf("ServerGroupsAndResources (aggregated discovery) does not list widgets in %s", apiVersion)
	}
	s.pass("discovery serves the new group version (per-group and aggregated)")

	res := s.dyn.Resource(gvr).Namespace(s.ns)
	w1 := widget("w1", 1, "red", map[string]any{"app": "den-clients"})
	w1.SetAPIVersion(apiVersion)
	got, err := res.Create(ctx, w1, metav1.CreateOptions{})
	must(err, "dynamic create widget w1")
	if got.GetUID() == "" || got.GetResourceVersion() == "" || got.GetGeneration() != 1 {
		failf("created w1: uid %q rv %q generation %d, want uid, rv and generation 1", got.GetUID(), got.GetResourceVersion(), got.GetGeneration())
	}
	w2 := widget("w2", 2, "green", map[string]any{"app": "den-clients"})
	w2.SetAPIVersion(apiVersion)
	_, err = res.Create(ctx, w2, metav1.CreateOptions{})
	must(err, "dynamic create widget w2")
	w3 := widget("w3", 3, "blue", nil)
	w3.SetAPIVersion(apiVersion)
	_, err = res.Create(ctx, w3, metav1.CreateOptions{})
	must(err, "dynamic create widget w3")
	s.pass("create custom objects")

	got, err = res.Get(ctx, "w1", metav1.GetOptions{})
	must(err, "dynamic get w1")
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 1 {
		failf("get w1: spec.size = %d, want 1 (object %v)", size, got.Object)
	}
	if got.GetKind() != "Widget" || got.GetAPIVersion() != apiVersion {
		failf("get w1: apiVersion/kind %s/%s, want %s/Widget", got.GetAPIVersion(), got.GetKind(), apiVersion)
	}
	s.pass("get custom object")

	list, err := res.List(ctx, metav1.ListOptions{})
	must(err, "dynamic list widgets")
	if n := names(list.Items); strings.Join(n, ",") != "w1,w2,w3" {
		failf("list widgets = %v, want [w1 w2 w3]", n)
	}
	if list.GetKind() != "WidgetList" {
		failf("list kind %q, want WidgetList", list.GetKind())
	}
	sel, err := res.List(ctx, metav1.ListOptions{LabelSelector: "app=den-clients"})
	must(err, "dynamic list widgets app=den-clients")
	if n := names(sel.Items); strings.Join(n, ",") != "w1,w2" {
		failf("list widgets app=den-clients = %v, want [w1 w2]", n)
	}
	page1, err := res.List(ctx, metav1.ListOptions{Limit: 2})
	must(err, "dynamic list widgets limit=2")
	if len(page1.Items) != 2 || page1.GetContinue() == "" {
		failf("list limit=2: %d items, continue %q; want 2 items and a continue token", len(page1.Items), page1.GetContinue())
	}
	page2, err := res.List(ctx, metav1.ListOptions{Limit: 2, Continue: page1.GetContinue()})
	must(err, "dynamic list widgets continue")
	if len(page2.Items) != 1 || page2.GetContinue() != "" {
		failf("list continue: %d items, continue %q; want the 1 remaining item and no token", len(page2.Items), page2.GetContinue())
	}
	if n := names(append(page1.Items, page2.Items...)); strings.Join(n, ",") != "w1,w2,w3" {
		failf("pages together = %v, want [w1 w2 w3]", n)
	}
	s.pass("list custom objects (all, label selector, limit/continue)")

	// A dynamic informer over the same resource.
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.dyn, 0, s.ns, nil)
	inf := factory.ForResource(gvr)
	rec := &recorder{}
	_, err = inf.Informer().AddEventHandler(rec.handler("widget"))
	must(err, "add widget event handler")
	stop := make(chan struct{})
	defer func() {
		close(stop)
		factory.Shutdown()
	}()
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		failf("dynamic informer for widgets did not sync")
	}
	objs, err := inf.Lister().ByNamespace(s.ns).List(labels.Everything())
	if err != nil || len(objs) != 3 {
		failf("dynamic lister: %d objects (err %v), want 3", len(objs), err)
	}
	s.pass("dynamic informer syncs; lister holds the objects")

	// Watch from the list's resourceVersion: every later change arrives in order.
	w, err := res.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
	must(err, "dynamic watch widgets from rv %s", list.GetResourceVersion())
	defer w.Stop()
	nextEvent := func(what string, want watch.EventType, name string) *unstructured.Unstructured {
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					failf("watch closed while waiting for %s", what)
				}
				if ev.Type == watch.Error {
					failf("watch error while waiting for %s: %v", what, ev.Object)
				}
				u, _ := ev.Object.(*unstructured.Unstructured)
				if u == nil {
					failf("watch event %s carries %T, want *unstructured.Unstructured", ev.Type, ev.Object)
				}
				if ev.Type == watch.Bookmark {
					continue
				}
				if ev.Type != want || u.GetName() != name {
					failf("waiting for %s: got %s %s first, want %s %s", what, ev.Type, u.GetName(), want, name)
				}
				return u
			case <-timer.C:
				failf("no watch event for %s within 10s", what)
			}
		}
	}

	patched, err := res.Patch(ctx, "w1", types.MergePatchType, []byte(`{"spec":{"size":10}}`), metav1.PatchOptions{})
	must(err, "merge patch w1")
	if size, _, _ := unstructured.NestedInt64(patched.Object, "spec", "size"); size != 10 || patched.GetGeneration() != 2 {
		failf("merge patch w1: spec.size %d generation %d, want 10 and 2", size, patched.GetGeneration())
	}
	ev := nextEvent("merge patch of w1", watch.Modified, "w1")
	if size, _, _ := unstructured.NestedInt64(ev.Object, "spec", "size"); size != 10 {
		failf("watch MODIFIED w1: spec.size %d, want 10", size)
	}
	s.pass("merge patch; watch from the list resourceVersion delivers MODIFIED")

	patched, err = res.Patch(ctx, "w1", types.JSONPatchType,
		[]byte(`[{"op":"test","path":"/spec/color","value":"red"},{"op":"replace","path":"/spec/color","value":"blue"},{"op":"add","path":"/spec/tags","value":["a"]}]`),
		metav1.PatchOptions{})
	must(err, "JSON patch w1")
	if color, _, _ := unstructured.NestedString(patched.Object, "spec", "color"); color != "blue" {
		failf("JSON patch w1: spec.color %q, want blue", color)
	}
	nextEvent("JSON patch of w1", watch.Modified, "w1")
	_, err = res.Patch(ctx, "w1", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/color","value":"red"}]`), metav1.PatchOptions{})
	if code := statusCode(err); code != 422 {
		failf("JSON patch with a failing test op: err %s, want HTTP 422", errString(err))
	}
	s.pass("JSON patch (test/replace/add); a failing test op is rejected")

	applied := widget("w1", 0, "", nil)
	applied.SetAPIVersion(apiVersion)
	delete(applied.Object, "spec")
	must(unstructured.SetNestedStringSlice(applied.Object, []string{"x", "y"}, "spec", "tags"), "build apply object")
	patched, err = res.Apply(ctx, "w1", applied, metav1.ApplyOptions{FieldManager: "den-clients-dyn", Force: true})
	must(err, "server-side apply of w1 through the dynamic client")
	tags, _, _ := unstructured.NestedStringSlice(patched.Object, "spec", "tags")
	if strings.Join(tags, ",") != "x,y" {
		failf("apply w1: spec.tags %v, want [x y]", tags)
	}
	if size, _, _ := unstructured.NestedInt64(patched.Object, "spec", "size"); size != 10 {
		failf("apply w1 (tags only) changed spec.size to %d, want 10 kept", size)
	}
	owner := ""
	for _, mf := range patched.GetManagedFields() {
		if mf.Operation == metav1.ManagedFieldsOperationApply && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:tags"`) {
			owner = mf.Manager
		}
	}
	if owner != "den-clients-dyn" {
		failf("apply w1: managedFields Apply owner of spec.tags = %q, want den-clients-dyn (managedFields %+v)", owner, patched.GetManagedFields())
	}
	nextEvent("apply of w1", watch.Modified, "w1")
	s.pass("server-side apply on a custom object (fields merged, managedFields owner)")

	status := patched.DeepCopy()
	must(unstructured.SetNestedField(status.Object, "Ready", "status", "phase"), "set status")
	must(unstructured.SetNestedField(status.Object, int64(99), "spec", "size"), "set spec")
	gotStatus, err := res.UpdateStatus(ctx, status, metav1.UpdateOptions{})
	must(err, "update status of w1")
	phase, _, _ := unstructured.NestedString(gotStatus.Object, "status", "phase")
	size, _, _ := unstructured.NestedInt64(gotStatus.Object, "spec", "size")
	if phase != "Ready" || size != 10 || gotStatus.GetGeneration() != patched.GetGeneration() {
		failf("update status of w1: status.phase %q spec.size %d generation %d; want Ready, 10 (spec ignored by /status), generation %d",
			phase, size, gotStatus.GetGeneration(), patched.GetGeneration())
	}
	nextEvent("status update of w1", watch.Modified, "w1")
	s.pass("status subresource: status written, spec changes ignored, generation kept")

	stale := patched.DeepCopy() // resourceVersion from before the status update
	must(unstructured.SetNestedField(stale.Object, int64(5), "spec", "size"), "set spec")
	_, err = res.Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		failf("update with a stale resourceVersion: err %s, want 409 Conflict", errString(err))
	}
	s.pass("update with a stale resourceVersion is a Conflict")

	must(res.Delete(ctx, "w1", metav1.DeleteOptions{}), "delete w1")
	nextEvent("delete of w1", watch.Deleted, "w1")
	if _, err := res.Get(ctx, "w1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		failf("get w1 after delete: err %s, want NotFound", errString(err))
	}
	rec.waitFor(ctx, "widget", "delete", "w1", nil)
	s.pass("delete; watch delivers DELETED; get is NotFound; dynamic informer sees the delete")

	must(res.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)},
		metav1.ListOptions{LabelSelector: "app=den-clients"}), "deletecollection app=den-clients")
	nextEvent("deletecollection (w2)", watch.Deleted, "w2")
	left, err := res.List(ctx, metav1.ListOptions{})
	must(err, "list after deletecollection")
	if n := names(left.Items); strings.Join(n, ",") != "w3" {
		failf("after deletecollection app=den-clients: %v left, want [w3]", n)
	}
	s.pass("deletecollection by label selector")
}
