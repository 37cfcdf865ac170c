package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// events: client-go's event recorder (the one every controller uses) creates an Event and, for a
// repeat, patches its count; an events.k8s.io/v1 Event reads back through core/v1.
func (s *suite) events(ctx context.Context) {
	cm, err := s.kube.CoreV1().ConfigMaps(s.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "evt-target"}}, metav1.CreateOptions{})
	must(err, "create configmap evt-target")
	ref := cm.DeepCopy()
	ref.Kind, ref.APIVersion = "ConfigMap", "v1"

	b := record.NewBroadcaster()
	defer b.Shutdown()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.kube.CoreV1().Events(s.ns)})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "den-clients"})

	selector := "involvedObject.name=evt-target,reason=Tested"
	waitCount := func(want int32) corev1.Event {
		var found corev1.Event
		eventually(ctx, 15*time.Second, fmt.Sprintf("one Event for evt-target with count %d", want), func() (bool, string) {
			list, err := s.kube.CoreV1().Events(s.ns).List(ctx, metav1.ListOptions{FieldSelector: selector})
			if err != nil {
				return false, err.Error()
			}
			if len(list.Items) != 1 {
				return false, fmt.Sprintf("%d events match %s", len(list.Items), selector)
			}
			found = list.Items[0]
			return found.Count == want, fmt.Sprintf("count %d", found.Count)
		})
		return found
	}

	rec.Event(ref, corev1.EventTypeNormal, "Tested", "recorded by den-clients")
	ev := waitCount(1)
	if ev.InvolvedObject.UID != cm.UID || ev.InvolvedObject.Kind != "ConfigMap" || ev.Source.Component != "den-clients" ||
		ev.Type != corev1.EventTypeNormal || ev.Message != "recorded by den-clients" || ev.FirstTimestamp.IsZero() {
		failf("recorded event %+v: want involvedObject ConfigMap uid %s, source den-clients, type Normal, message and firstTimestamp", ev, cm.UID)
	}
	s.pass("event recorder creates an Event (found by field selector involvedObject.name, reason)")

	rec.Event(ref, corev1.EventTypeNormal, "Tested", "recorded by den-clients")
	waitCount(2)
	s.pass("a repeated event is patched onto the same Event (count 2)")

	now := metav1.NewMicroTime(time.Now())
	_, err = s.kube.EventsV1().Events(s.ns).Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "evt-new-api"},
		EventTime:           now,
		ReportingController: "den-clients.example.com/test",
		ReportingInstance:   "den-clients-1",
		Action:              "Testing",
		Reason:              "NewAPI",
		Type:                corev1.EventTypeWarning,
		Note:                "from events.k8s.io/v1",
		Regarding:           corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: s.ns, Name: "evt-target", UID: cm.UID},
	}, metav1.CreateOptions{})
	must(err, "create events.k8s.io/v1 Event")
	core, err := s.kube.CoreV1().Events(s.ns).Get(ctx, "evt-new-api", metav1.GetOptions{})
	must(err, "get the events.k8s.io/v1 Event through core/v1")
	if core.Message != "from events.k8s.io/v1" || core.InvolvedObject.UID != cm.UID || core.ReportingController != "den-clients.example.com/test" ||
		core.Type != corev1.EventTypeWarning || core.Reason != "NewAPI" {
		failf("events.k8s.io/v1 Event read through core/v1: message %q involvedObject.uid %q reportingComponent %q type %q reason %q",
			core.Message, core.InvolvedObject.UID, core.ReportingController, core.Type, core.Reason)
	}
	back, err := s.kube.EventsV1().Events(s.ns).Get(ctx, ev.Name, metav1.GetOptions{})
	must(err, "get the recorded core/v1 Event %s through events.k8s.io/v1", ev.Name)
	if back.Note != "recorded by den-clients" || back.Regarding.UID != cm.UID || back.DeprecatedCount != 2 || back.DeprecatedSource.Component != "den-clients" {
		failf("core/v1 Event read through events.k8s.io/v1: note %q regarding.uid %q deprecatedCount %d deprecatedSource %+v",
			back.Note, back.Regarding.UID, back.DeprecatedCount, back.DeprecatedSource)
	}
	s.pass("Events convert between core/v1 and events.k8s.io/v1 (message/note, involvedObject/regarding, count)")
}
