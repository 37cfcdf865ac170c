package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// mirrorReconciler keeps, for each ConfigMap labelled den-clients/mirror=true, a Secret
// "<name>-mirror" holding the same data and controlled by the ConfigMap.
type mirrorReconciler struct {
	client client.Client
	scheme *runtime.Scheme
}

func (r *mirrorReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var cm corev1.ConfigMap
	if err := r.client.Get(ctx, req.NamespacedName, &cm); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cm.Name + "-mirror", Namespace: cm.Namespace}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.client, secret, func() error {
		secret.Data = map[string][]byte{}
		for k, v := range cm.Data {
			secret.Data[k] = []byte(v)
		}
		return controllerutil.SetControllerReference(&cm, secret, r.scheme)
	})
	return reconcile.Result{}, err
}

// controllerRuntime: a manager with a namespaced cache, leader election on a Lease, a field
// index, a controller that owns Secrets, the cache-backed client, the uncached API reader,
// merge and server-side-apply patches, and unstructured custom objects through the
// discovery-backed REST mapper.
func (s *suite) controllerRuntime(ctx context.Context) {
	ctrl.SetLogger(crzap.New(crzap.Level(zapcore.ErrorLevel), crzap.WriteTo(os.Stderr)))
	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme), "build scheme")

	const leaseName = "den-clients-leader"
	mgr, err := manager.New(s.cfg, manager.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              leaseName,
		LeaderElectionNamespace:       s.ns,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(15 * time.Second),
		RenewDeadline:                 ptr.To(10 * time.Second),
		RetryPeriod:                   ptr.To(1 * time.Second),
		Cache:                         cache.Options{DefaultNamespaces: map[string]cache.Config{s.ns: {}}},
	})
	must(err, "controller-runtime manager.New")

	must(mgr.GetFieldIndexer().IndexField(ctx, &corev1.ConfigMap{}, "data.color", func(o client.Object) []string {
		if c := o.(*corev1.ConfigMap).Data["color"]; c != "" {
			return []string{c}
		}
		return nil
	}), "index configmaps by data.color")

	err = builder.ControllerManagedBy(mgr).
		Named("den-clients-mirror").
		For(&corev1.ConfigMap{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetLabels()["den-clients/mirror"] == "true"
		}))).
		Owns(&corev1.Secret{}).
		Complete(&mirrorReconciler{client: mgr.GetClient(), scheme: scheme})
	must(err, "build controller den-clients-mirror")

	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopMgr()
			select {
			case err := <-mgrDone:
				if err != nil {
					failf("manager stopped with an error: %v", err)
				}
			case <-time.After(20 * time.Second):
				failf("manager did not stop within 20s")
			}
		}
	}
	defer func() {
		if !stopped {
			stopped = true
			stopMgr()
			<-mgrDone
		}
	}()

	select {
	case <-mgr.Elected():
	case err := <-mgrDone:
		failf("manager exited before being elected: %v", err)
	case <-time.After(20 * time.Second):
		failf("manager not elected leader within 20s")
	}
	lease, err := s.kube.CoordinationV1().Leases(s.ns).Get(ctx, leaseName, metav1.GetOptions{})
	must(err, "get Lease %s", leaseName)
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" || lease.Spec.RenewTime == nil {
		failf("Lease %s after election: holderIdentity %v renewTime %v, want both set", leaseName, lease.Spec.HolderIdentity, lease.Spec.RenewTime)
	}
	holder := *lease.Spec.HolderIdentity
	s.pass("leader election acquired Lease %s (holder %s)", leaseName, holder)

	syncCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	synced := mgr.GetCache().WaitForCacheSync(syncCtx)
	cancel()
	if !synced {
		failf("manager cache did not sync within 20s")
	}
	s.pass("manager cache synced")

	c := mgr.GetClient()
	src := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "src", Namespace: s.ns, Labels: map[string]string{"den-clients/mirror": "true"}},
		Data:       map[string]string{"color": "blue"},
	}
	must(c.Create(ctx, src), "client create configmap src")
	var direct corev1.ConfigMap
	must(mgr.GetAPIReader().Get(ctx, client.ObjectKeyFromObject(src), &direct), "API reader get src right after create")
	eventually(ctx, 10*time.Second, "cache-backed client get of src after create", func() (bool, string) {
		var cached corev1.ConfigMap
		err := c.Get(ctx, client.ObjectKeyFromObject(src), &cached)
		if err != nil {
			return false, err.Error()
		}
		return cached.ResourceVersion == src.ResourceVersion, "cached rv " + cached.ResourceVersion + " want " + src.ResourceVersion
	})
	s.pass("write through the client, read back through the cache (and the uncached API reader)")

	mirrorHas := func(color string) {
		eventually(ctx, 15*time.Second, "Secret src-mirror with color="+color, func() (bool, string) {
			var secret corev1.Secret
			if err := c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: "src-mirror"}, &secret); err != nil {
				return false, err.Error()
			}
			ref := metav1.GetControllerOf(&secret)
			if ref == nil || ref.UID != src.UID || ref.Kind != "ConfigMap" || ref.Name != "src" {
				return false, fmt.Sprintf("controller reference %+v", ref)
			}
			return string(secret.Data["color"]) == color, fmt.Sprintf("data %q", secret.Data)
		})
	}
	mirrorHas("blue")
	s.pass("controller reconciled: Secret created with a controller reference")

	before := src.DeepCopy()
	src.Data["color"] = "green"
	must(c.Patch(ctx, src, client.MergeFrom(before)), "merge patch of src")
	if src.Data["color"] != "green" {
		failf("merge patch response: data %v, want color=green", src.Data)
	}
	mirrorHas("green")
	s.pass("merge patch (client.MergeFrom) triggers a reconcile that updates the owned Secret")

	// Optimistic lock: a merge patch carrying the old resourceVersion conflicts.
	stale := before.DeepCopy()
	stale.Data["color"] = "red"
	err = c.Patch(ctx, stale, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if !apierrors.IsConflict(err) {
		failf("merge patch with optimistic lock and a stale resourceVersion: err %s, want Conflict", errString(err))
	}
	s.pass("merge patch with an optimistic lock on a stale resourceVersion is a Conflict")

	eventually(ctx, 10*time.Second, "List with field index data.color=green", func() (bool, string) {
		var list corev1.ConfigMapList
		if err := c.List(ctx, &list, client.InNamespace(s.ns), client.MatchingFields{"data.color": "green"}); err != nil {
			return false, err.Error()
		}
		n := []string{}
		for _, i := range list.Items {
			n = append(n, i.Name)
		}
		return strings.Join(n, ",") == "src", fmt.Sprintf("items %v", n)
	})
	var labelled corev1.ConfigMapList
	must(c.List(ctx, &labelled, client.InNamespace(s.ns), client.MatchingLabels{"den-clients/mirror": "true"}), "list by label")
	if len(labelled.Items) != 1 {
		failf("cached list by label den-clients/mirror=true: %d items, want 1", len(labelled.Items))
	}
	s.pass("cached List by field index and by label")

	applied := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cr-applied", Namespace: s.ns},
		Data:       map[string]string{"k": "v"},
	}
	must(c.Patch(ctx, applied, client.Apply, client.FieldOwner("den-clients-cr"), client.ForceOwnership), "client.Apply patch of cr-applied")
	if applied.Data["k"] != "v" || applied.UID == "" {
		failf("client.Apply result: uid %q data %v", applied.UID, applied.Data)
	}
	expectOwners("cr-applied", applied.ManagedFields, []string{"den-clients-cr/Apply"}, `"f:k"`)
	s.pass("server-side apply through client.Patch(client.Apply, FieldOwner, ForceOwnership)")

	// Unstructured custom objects: the REST mapper learns the CRD's group through discovery.
	s.ensureCRD(ctx)
	gvk := s.widgetGVR().GroupVersion().WithKind("Widget")
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetName("cr-widget")
	u.SetNamespace(s.ns)
	must(unstructured.SetNestedField(u.Object, int64(7), "spec", "size"), "build widget")
	must(c.Create(ctx, u), "client create unstructured Widget")
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(gvk)
	must(c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: "cr-widget"}, got), "client get unstructured Widget")
	if size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size"); size != 7 {
		failf("unstructured Widget spec.size %d, want 7", size)
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind("WidgetList"))
	must(c.List(ctx, list, client.InNamespace(s.ns)), "client list unstructured WidgetList")
	foundW := false
	for _, i := range list.Items {
		foundW = foundW || i.GetName() == "cr-widget"
	}
	if !foundW {
		failf("unstructured WidgetList does not contain cr-widget")
	}
	must(c.Delete(ctx, got), "client delete unstructured Widget")
	s.pass("unstructured custom objects (create/get/list/delete) through the discovery REST mapper")

	must(c.Delete(ctx, src), "client delete configmap src")
	eventually(ctx, 10*time.Second, "cache drops src after delete", func() (bool, string) {
		err := c.Get(ctx, client.ObjectKeyFromObject(src), &corev1.ConfigMap{})
		return apierrors.IsNotFound(err), errString(err)
	})
	s.pass("delete seen by the cache")

	stop()
	lease, err = s.kube.CoordinationV1().Leases(s.ns).Get(ctx, leaseName, metav1.GetOptions{})
	must(err, "get Lease %s after stop", leaseName)
	if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		failf("Lease %s after the manager stopped with ReleaseOnCancel: holderIdentity %q, want empty", leaseName, *lease.Spec.HolderIdentity)
	}
	s.pass("manager stops cleanly and releases the Lease")
}
