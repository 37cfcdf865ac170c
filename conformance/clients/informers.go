package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// event is one call of an informer's event handler.
type event struct {
	kind, verb, name string
	obj, old         runtime.Object
}

// recorder collects the events its handlers receive.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) handler(kind string) cache.ResourceEventHandlerFuncs {
	add := func(verb string, obj, old any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		o, _ := obj.(runtime.Object)
		var prev runtime.Object
		if old != nil {
			prev, _ = old.(runtime.Object)
		}
		m, err := meta.Accessor(obj)
		name := "?"
		if err == nil {
			name = m.GetName()
		}
		r.mu.Lock()
		r.events = append(r.events, event{kind: kind, verb: verb, name: name, obj: o, old: prev})
		r.mu.Unlock()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { add("add", obj, nil) },
		UpdateFunc: func(old, obj any) { add("update", obj, old) },
		DeleteFunc: func(obj any) { add("delete", obj, nil) },
	}
}

// find returns the first event matching kind/verb/name for which match (if given) holds.
func (r *recorder) find(kind, verb, name string, match func(e event) bool) (event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.kind == kind && e.verb == verb && e.name == name && (match == nil || match(e)) {
			return e, true
		}
	}
	return event{}, false
}

func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := ""
	for _, e := range r.events {
		out += fmt.Sprintf("[%s %s %s] ", e.kind, e.verb, e.name)
	}
	if out == "" {
		return "no events"
	}
	return out
}

func (r *recorder) waitFor(ctx context.Context, kind, verb, name string, match func(e event) bool) event {
	var found event
	eventually(ctx, 10*time.Second, fmt.Sprintf("%s %s event for %s", kind, verb, name), func() (bool, string) {
		e, ok := r.find(kind, verb, name, match)
		found = e
		return ok, "events so far: " + r.summary()
	})
	return found
}

// informers: a namespaced SharedInformerFactory with pods and configmaps; handlers see adds,
// updates and deletes; listers read the synced cache.
func (s *suite) informers(ctx context.Context) { s.informersNamed(ctx, "") }

// informersNamed is informers with every object name prefixed by p.
func (s *suite) informersNamed(ctx context.Context, p string) {
	cms := s.kube.CoreV1().ConfigMaps(s.ns)
	pods := s.kube.CoreV1().Pods(s.ns)

	// An object that exists before the informer starts arrives through the initial list.
	_, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: p + "before-start"},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	must(err, "create configmap before-start")

	factory := informers.NewSharedInformerFactoryWithOptions(s.kube, 0, informers.WithNamespace(s.ns))
	podInformer := factory.Core().V1().Pods()
	cmInformer := factory.Core().V1().ConfigMaps()
	rec := &recorder{}
	_, err = podInformer.Informer().AddEventHandler(rec.handler("pod"))
	must(err, "add pod event handler")
	_, err = cmInformer.Informer().AddEventHandler(rec.handler("configmap"))
	must(err, "add configmap event handler")
	stop := make(chan struct{})
	defer func() {
		close(stop)
		factory.Shutdown()
	}()
	factory.Start(stop)
	syncCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	synced := factory.WaitForCacheSync(syncCtx.Done())
	cancel()
	for typ, ok := range synced {
		if !ok {
			failf("informer cache for %v did not sync within 20s", typ)
		}
	}
	if len(synced) != 2 {
		failf("WaitForCacheSync reported %d informers, want 2", len(synced))
	}
	s.pass("pod and configmap informer caches synced")

	rec.waitFor(ctx, "configmap", "add", p+"before-start", nil)
	got, err := cmInformer.Lister().ConfigMaps(s.ns).Get(p + "before-start")
	must(err, "lister get configmap before-start")
	if got.Data["k"] != "v" {
		failf("lister configmap before-start data = %v, want k=v", got.Data)
	}
	s.pass("object created before start delivered by the initial list (add event, lister get)")

	// ConfigMap create / update / delete.
	created, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: p + "cm1", Labels: map[string]string{"app": "den-clients"}},
		Data:       map[string]string{"a": "1"},
	}, metav1.CreateOptions{})
	must(err, "create configmap cm1")
	rec.waitFor(ctx, "configmap", "add", p+"cm1", nil)
	eventually(ctx, 5*time.Second, "lister sees cm1 at the created resourceVersion", func() (bool, string) {
		cm, err := cmInformer.Lister().ConfigMaps(s.ns).Get(p + "cm1")
		if err != nil {
			return false, err.Error()
		}
		return cm.ResourceVersion == created.ResourceVersion && cm.Data["a"] == "1",
			fmt.Sprintf("rv %s data %v", cm.ResourceVersion, cm.Data)
	})
	s.pass("configmap create seen by the add handler and the lister")

	created.Data["a"] = "2"
	updated, err := cms.Update(ctx, created, metav1.UpdateOptions{})
	must(err, "update configmap cm1")
	e := rec.waitFor(ctx, "configmap", "update", p+"cm1", func(e event) bool {
		return e.obj.(*corev1.ConfigMap).Data["a"] == "2"
	})
	if old := e.old.(*corev1.ConfigMap); old.Data["a"] != "1" {
		failf("update event for cm1: old object data %v, want a=1", old.Data)
	}
	if rv := e.obj.(*corev1.ConfigMap).ResourceVersion; rv != updated.ResourceVersion {
		failf("update event for cm1 carries resourceVersion %s, the update returned %s", rv, updated.ResourceVersion)
	}
	got, err = cmInformer.Lister().ConfigMaps(s.ns).Get(p + "cm1")
	must(err, "lister get cm1 after update")
	if got.Data["a"] != "2" {
		failf("lister cm1 after update: data %v, want a=2", got.Data)
	}
	s.pass("configmap update seen by the update handler (old and new object) and the lister")

	must(cms.Delete(ctx, p+"cm1", metav1.DeleteOptions{}), "delete configmap cm1")
	rec.waitFor(ctx, "configmap", "delete", p+"cm1", nil)
	if _, err := cmInformer.Lister().ConfigMaps(s.ns).Get(p + "cm1"); !apierrors.IsNotFound(err) {
		failf("lister get cm1 after delete: err %s, want NotFound", errString(err))
	}
	s.pass("configmap delete seen by the delete handler; lister returns NotFound")

	// Pods: there are no nodes, so the pod stays Pending; that is all this needs.
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p + "pod1", Labels: map[string]string{"app": "den-clients"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "registry.k8s.io/pause:3.10",
		}}},
	}, metav1.CreateOptions{})
	must(err, "create pod pod1")
	e = rec.waitFor(ctx, "pod", "add", p+"pod1", nil)
	if p := e.obj.(*corev1.Pod); p.UID != pod.UID {
		failf("pod add event uid %s, created uid %s", p.UID, pod.UID)
	}
	s.pass("pod create seen by the add handler")

	_, err = pods.Patch(ctx, p+"pod1", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"web"}}}`), metav1.PatchOptions{})
	must(err, "merge-patch pod1 labels")
	rec.waitFor(ctx, "pod", "update", p+"pod1", func(e event) bool {
		return e.obj.(*corev1.Pod).Labels["tier"] == "web"
	})
	sel := labels.SelectorFromSet(labels.Set{"tier": "web"})
	listed, err := podInformer.Lister().Pods(s.ns).List(sel)
	must(err, "lister list pods tier=web")
	if len(listed) != 1 || listed[0].Name != p+"pod1" {
		names := []string{}
		for _, p := range listed {
			names = append(names, p.Name)
		}
		failf("lister list pods tier=web = %v, want [%spod1]", names, p)
	}
	all, err := podInformer.Lister().List(labels.SelectorFromSet(labels.Set{"app": "den-clients"}))
	must(err, "lister list pods app=den-clients")
	if len(all) != 1 {
		failf("lister list pods app=den-clients: %d pods, want 1", len(all))
	}
	s.pass("pod label patch seen by the update handler; lister selects by label")

	must(pods.Delete(ctx, p+"pod1", metav1.DeleteOptions{}), "delete pod pod1")
	// A pod that was never bound to a node is removed at once (no graceful termination).
	rec.waitFor(ctx, "pod", "delete", p+"pod1", nil)
	if _, err := podInformer.Lister().Pods(s.ns).Get(p + "pod1"); !apierrors.IsNotFound(err) {
		failf("lister get pod1 after delete: err %s, want NotFound", errString(err))
	}
	s.pass("unscheduled pod delete seen by the delete handler; lister returns NotFound")
}

// watchListGates turns client-go's WatchListClient feature on or off at run time and leaves every
// other client-go feature as the defaults (or KUBE_FEATURE_* variables) say.
type watchListGates struct {
	base clientfeatures.Gates
	on   atomic.Bool
}

func (g *watchListGates) Enabled(key clientfeatures.Feature) bool {
	if key == clientfeatures.WatchListClient && g.on.Load() {
		return true
	}
	return g.base.Enabled(key)
}

var gates = &watchListGates{base: clientfeatures.FeatureGates()}

func init() { clientfeatures.ReplaceFeatureGates(gates) }

// informersWatchList: the informers again, with client-go's WatchListClient feature on, so the
// reflectors first ask for a watch with sendInitialEvents=true and fall back to LIST+WATCH when
// that fails. (Upstream v1.33 servers reject it: their WatchList feature is off by default.)
func (s *suite) informersWatchList(ctx context.Context) {
	gates.on.Store(true)
	defer gates.on.Store(false)
	s.informersNamed(ctx, "wl-")
}

// watchListStream opens a configmap watch with sendInitialEvents=true (resourceVersion rv,
// resourceVersionMatch NotOlderThan, bookmarks on: the request client-go's reflector makes with
// rv "") and reads it up to the bookmark annotated k8s.io/initial-events-end. It returns that
// bookmark's annotations and the number of initial ADDED events, or the error of the request.
func (s *suite) watchListStream(ctx context.Context, rv string) (map[string]string, int, error) {
	w, err := s.kube.CoreV1().ConfigMaps(s.ns).Watch(ctx, metav1.ListOptions{
		SendInitialEvents:    ptr.To(true),
		ResourceVersion:      rv,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks:  true,
	})
	if err != nil {
		return nil, 0, err
	}
	defer w.Stop()
	initial := 0
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				failf("sendInitialEvents watch (resourceVersion %q) closed before the initial-events-end bookmark", rv)
			}
			switch ev.Type {
			case watch.Added:
				initial++
			case watch.Bookmark:
				m, err := meta.Accessor(ev.Object)
				must(err, "bookmark object")
				if m.GetAnnotations()["k8s.io/initial-events-end"] == "true" {
					return m.GetAnnotations(), initial, nil
				}
			default:
				failf("sendInitialEvents watch (resourceVersion %q): unexpected %s event before the initial-events-end bookmark", rv, ev.Type)
			}
		case <-timer.C:
			failf("sendInitialEvents watch (resourceVersion %q): no bookmark annotated k8s.io/initial-events-end within 10s (%d initial events)", rv, initial)
		}
	}
}

// watchListRequest: the watch-list request as client-go's reflector sends it (no resourceVersion)
// either streams the initial state, or is rejected (4xx) by a server that has no watch-list at all.
// A server that streams when given resourceVersion=0 but rejects the reflector's request is
// half-way and fails here.
func (s *suite) watchListRequest(ctx context.Context) {
	_, err := s.kube.CoreV1().ConfigMaps(s.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watchlist-probe"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		must(err, "create configmap watchlist-probe")
	}
	_, n, err := s.watchListStream(ctx, "")
	if err == nil {
		if n == 0 {
			failf("watch with sendInitialEvents=true: no initial ADDED events, but the namespace has configmaps")
		}
		s.pass("watch with sendInitialEvents=true and no resourceVersion streams %d initial objects, then the initial-events-end bookmark", n)
		return
	}
	code := statusCode(err)
	if code < 400 || code >= 500 {
		failf("watch with sendInitialEvents=true, resourceVersionMatch=NotOlderThan, no resourceVersion: err %s, want a stream or a 4xx rejection", errString(err))
	}
	if _, _, err0 := s.watchListStream(ctx, "0"); err0 == nil {
		failf("GET .../configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true (no resourceVersion, as client-go's reflector sends it) is rejected: %s; "+
			"the same request with resourceVersion=0 streams. Upstream (WatchList on) serves it from the latest state; with WatchList off every sendInitialEvents watch is a 422", errString(err))
	}
	s.pass("watch with sendInitialEvents=true is rejected (HTTP %d) like a server without WatchList: client-go falls back to LIST+WATCH", code)
}

// watchListBlueprint: when the server streams the initial events, the closing bookmark carries
// kubernetes.io/initial-events-list-blueprint (an empty list of the resource, encoded as the
// response, base64), which client-go v0.33's typed List needs to build its result from the stream.
func (s *suite) watchListBlueprint(ctx context.Context) {
	_, err := s.kube.CoreV1().ConfigMaps(s.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watchlist-probe"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		must(err, "create configmap watchlist-probe")
	}
	ann, _, err := s.watchListStream(ctx, "")
	rv := ""
	if err != nil {
		rv = "0"
		ann, _, err = s.watchListStream(ctx, rv)
	}
	if err != nil {
		s.pass("the server does not stream initial events (%s); no bookmark to check", errString(err))
		return
	}
	blueprint, ok := ann[metav1.InitialEventsListBlueprintAnnotationKey]
	if !ok {
		failf("the initial-events-end bookmark of GET .../configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=%s "+
			"has annotations %v; v1.33 servers add %s (base64 of an empty ConfigMapList), without which client-go's typed List falls back to a LIST",
			rv, ann, metav1.InitialEventsListBlueprintAnnotationKey)
	}
	raw, err := base64.StdEncoding.DecodeString(blueprint)
	must(err, "base64-decode the list blueprint")
	var list struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	must(json.Unmarshal(raw, &list), "decode the list blueprint %q", raw)
	if list.Kind != "ConfigMapList" || list.APIVersion != "v1" {
		failf("list blueprint %s: want kind ConfigMapList, apiVersion v1", raw)
	}
	s.pass("the initial-events-end bookmark carries the list blueprint (%s)", raw)
}
