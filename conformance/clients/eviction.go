package main

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eviction: the policy/v1 Eviction subresource as `kubectl drain` uses it (client-go's EvictV1);
// a Pending pod is evicted (deleted) at once, whatever its disruption budget says.
func (s *suite) eviction(ctx context.Context) {
	pods := s.kube.CoreV1().Pods(s.ns)
	_, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "evictee", Labels: map[string]string{"evict": "me"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}},
	}, metav1.CreateOptions{})
	must(err, "create pod evictee")
	err = pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evictee", Namespace: s.ns}})
	must(err, "evict pod evictee (policy/v1)")
	eventually(ctx, 10*time.Second, "evicted pod evictee gone", func() (bool, string) {
		_, err := pods.Get(ctx, "evictee", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
	err = pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evictee", Namespace: s.ns}})
	if !apierrors.IsNotFound(err) {
		failf("evicting a pod that no longer exists: err %s, want NotFound", errString(err))
	}
	s.pass("policy/v1 eviction of a Pending pod deletes it; evicting a missing pod is NotFound")
}
