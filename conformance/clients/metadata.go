package main

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// metadataClient: client-go's metadata client and a metadata-only informer (what the garbage
// collector, the namespace controller and controller-runtime's metadata watches use).
func (s *suite) metadataClient(ctx context.Context) {
	mc, err := metadata.NewForConfig(s.cfg)
	must(err, "metadata.NewForConfig")
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	res := mc.Resource(gvr).Namespace(s.ns)
	cms := s.kube.CoreV1().ConfigMaps(s.ns)

	created, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "meta1", Labels: map[string]string{"meta": "yes"}, Annotations: map[string]string{"note": "n"}},
		Data:       map[string]string{"big": "value"},
	}, metav1.CreateOptions{})
	must(err, "create configmap meta1")

	got, err := res.Get(ctx, "meta1", metav1.GetOptions{})
	must(err, "metadata Get meta1")
	if got.UID != created.UID || got.Labels["meta"] != "yes" || got.Annotations["note"] != "n" || got.ResourceVersion != created.ResourceVersion {
		failf("metadata Get meta1: uid %s labels %v annotations %v rv %s; want uid %s, label meta=yes, annotation note=n, rv %s",
			got.UID, got.Labels, got.Annotations, got.ResourceVersion, created.UID, created.ResourceVersion)
	}
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: "meta=yes"})
	must(err, "metadata List meta=yes")
	if len(list.Items) != 1 || list.Items[0].Name != "meta1" || list.ResourceVersion == "" {
		failf("metadata List meta=yes: %d items, rv %q; want [meta1] and a list resourceVersion", len(list.Items), list.ResourceVersion)
	}
	s.pass("metadata client Get and List return the objects' metadata")

	w, err := res.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	must(err, "metadata Watch from rv %s", list.ResourceVersion)
	defer w.Stop()
	_, err = cms.Patch(ctx, "meta1", types.MergePatchType, []byte(`{"metadata":{"labels":{"changed":"yes"}}}`), metav1.PatchOptions{})
	must(err, "patch meta1")
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			failf("metadata watch closed before the MODIFIED event")
		}
		if ev.Type == watch.Error {
			failf("metadata watch: ERROR event instead of MODIFIED: %v", apierrors.FromObject(ev.Object))
		}
		p, isMeta := ev.Object.(*metav1.PartialObjectMetadata)
		if ev.Type != watch.Modified || !isMeta || p.Name != "meta1" || p.Labels["changed"] != "yes" {
			failf("metadata watch: got %s %T %+v, want MODIFIED PartialObjectMetadata meta1 with label changed=yes", ev.Type, ev.Object, ev.Object)
		}
	case <-time.After(10 * time.Second):
		failf("metadata watch: no event within 10s of patching meta1")
	}
	s.pass("metadata client Watch delivers PartialObjectMetadata events")

	factory := metadatainformer.NewFilteredSharedInformerFactory(mc, 0, s.ns, nil)
	inf := factory.ForResource(gvr)
	rec := &recorder{}
	_, err = inf.Informer().AddEventHandler(rec.handler("meta"))
	must(err, "add metadata informer handler")
	stop := make(chan struct{})
	defer func() {
		close(stop)
		factory.Shutdown()
	}()
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		failf("metadata informer did not sync")
	}
	rec.waitFor(ctx, "meta", "add", "meta1", nil)
	must(cms.Delete(ctx, "meta1", metav1.DeleteOptions{}), "delete meta1")
	rec.waitFor(ctx, "meta", "delete", "meta1", nil)
	if _, err := inf.Lister().ByNamespace(s.ns).Get("meta1"); !apierrors.IsNotFound(err) {
		failf("metadata lister after delete: %s, want NotFound", errString(err))
	}
	s.pass("metadata-only informer syncs and sees adds and deletes")
}

// partialObjectMetadata: the server answers Accept: application/json;as=PartialObjectMetadata[List]
// with PartialObjectMetadata[List] objects (metadata only), as upstream does. client-go's metadata
// client copes with full objects for GET and LIST by decoding their metadata, so this is checked
// on the wire.
func (s *suite) partialObjectMetadata(ctx context.Context) {
	_, err := s.kube.CoreV1().ConfigMaps(s.ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "meta2"}, Data: map[string]string{"big": "value"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		must(err, "create configmap meta2")
	}
	rc := s.kube.CoreV1().RESTClient()
	for _, c := range []struct{ path, accept, kind string }{
		{"/api/v1/namespaces/" + s.ns + "/configmaps/meta2", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json", "PartialObjectMetadata"},
		{"/api/v1/namespaces/" + s.ns + "/configmaps", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", "PartialObjectMetadataList"},
	} {
		raw, err := rc.Get().AbsPath(c.path).SetHeader("Accept", c.accept).DoRaw(ctx)
		must(err, "GET %s (Accept: %s)", c.path, c.accept)
		var head struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
			Data       any    `json:"data"`
		}
		must(json.Unmarshal(raw, &head), "decode GET %s", c.path)
		if head.Kind != c.kind || head.APIVersion != "meta.k8s.io/v1" || head.Data != nil {
			failf("GET %s with Accept: %s answered kind %q apiVersion %q%s; want %s, meta.k8s.io/v1, metadata only",
				c.path, c.accept, head.Kind, head.APIVersion, map[bool]string{true: " (with data)", false: ""}[head.Data != nil], c.kind)
		}
	}
	s.pass("GET and LIST honour Accept ...;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1")
}
