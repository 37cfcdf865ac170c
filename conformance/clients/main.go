// den-clients drives upstream's client libraries, unmodified, against the cluster named by
// KUBECONFIG (or ~/.kube/config): client-go shared informers and listers, the dynamic client on a
// custom resource, server-side apply through apply configurations, and a controller-runtime
// manager (cache-backed client, a controller, field index, leader election).
//
// It prints "PASS <check>" for each check that holds and "FAIL <check>: <why>" for the first
// unexpected result of a section (the rest of that section is skipped), then a closing
// "N passed, N failed" line, and exits non-zero when anything failed.
//
// Everything it creates lives in a fresh namespace den-clients-XXXXX plus one CRD, both removed at
// the end (-keep leaves them for inspection).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime/debug"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// failure aborts the current section; section() recovers it.
type failure struct{ msg string }

// failf aborts the current section with a message saying what was expected and what happened.
func failf(format string, args ...any) { panic(failure{fmt.Sprintf(format, args...)}) }

// must aborts the current section when err is not nil.
func must(err error, what string, args ...any) {
	if err != nil {
		failf("%s: unexpected error: %v", fmt.Sprintf(what, args...), err)
	}
}

type suite struct {
	cfg  *rest.Config
	kube kubernetes.Interface
	ext  apiextensionsclientset.Interface
	dyn  dynamic.Interface
	ns   string
	// The custom resource definition shared by the dynamic and controller-runtime sections.
	crdGroup string
	crdReady bool

	current        string
	passed, failed int
}

// pass records one check that held.
func (s *suite) pass(format string, args ...any) {
	s.passed++
	fmt.Printf("PASS %s: %s\n", s.current, fmt.Sprintf(format, args...))
}

// section runs fn, turning a failf (or any panic) into one failed check.
func (s *suite) section(name string, timeout time.Duration, fn func(ctx context.Context)) {
	s.current = name
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			s.failed++
			if f, ok := r.(failure); ok {
				fmt.Printf("FAIL %s: %s\n", name, f.msg)
			} else {
				fmt.Printf("FAIL %s: panic: %v\n%s\n", name, r, debug.Stack())
			}
		}
	}()
	fn(ctx)
}

// eventually polls cond every 50ms until it returns true, failing the section with what (and
// cond's last explanation) when ctx ends or the deadline passes.
func eventually(ctx context.Context, timeout time.Duration, what string, cond func() (bool, string)) {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) || ctx.Err() != nil {
			failf("%s: not seen within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randSuffix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = letters[rand.Intn(len(letters))]
	}
	return string(b)
}

func main() {
	keep := flag.Bool("keep", false, "leave the test namespace and CRD in place")
	contentType := flag.String("content-type", "", `the rest config's content type (e.g. application/json); "" keeps the libraries' defaults: JSON for client-go's typed and dynamic clients, protobuf for built-in kinds in controller-runtime`)
	only := flag.String("only", "", "comma-separated sections to run (informers,dynamic,apply,controller-runtime,events,eviction,metadata,partial-object-metadata,watch-list-request,watch-list-blueprint,informers-watchlist); default all")
	flag.Parse()

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "den-clients: cannot load a kubeconfig: %v\n", err)
		os.Exit(2)
	}
	// The libraries' own defaults unless -content-type says otherwise: client-go's typed and
	// dynamic clients speak JSON; controller-runtime sends protobuf bodies for built-in kinds.
	if *contentType != "" {
		cfg.ContentType = *contentType
		cfg.AcceptContentTypes = *contentType
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = "den-clients"

	s := &suite{cfg: cfg, ns: "den-clients-" + randSuffix()}
	s.crdGroup = "g" + s.ns[len("den-clients-"):] + ".den-clients.example.com"
	s.kube = kubernetes.NewForConfigOrDie(cfg)
	s.ext = apiextensionsclientset.NewForConfigOrDie(cfg)
	s.dyn = dynamic.NewForConfigOrDie(cfg)

	start := time.Now()
	fmt.Printf("den-clients: namespace %s against %s\n", s.ns, cfg.Host)
	s.section("setup", 30*time.Second, func(ctx context.Context) {
		_, err := s.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}, metav1.CreateOptions{})
		must(err, "create namespace %s", s.ns)
	})
	if s.failed > 0 {
		fmt.Printf("%d passed, %d failed\n", s.passed, s.failed)
		os.Exit(1)
	}

	want := map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		if name != "" {
			want[name] = true
		}
	}
	sections := []struct {
		name string
		fn   func(ctx context.Context)
	}{
		{"informers", s.informers},
		{"dynamic", s.dynamicClient},
		{"apply", s.serverSideApply},
		{"controller-runtime", s.controllerRuntime},
		{"events", s.events},
		{"eviction", s.eviction},
		{"metadata", s.metadataClient},
		{"partial-object-metadata", s.partialObjectMetadata},
		{"watch-list-request", s.watchListRequest},
		{"watch-list-blueprint", s.watchListBlueprint},
		{"informers-watchlist", s.informersWatchList},
	}
	for _, sec := range sections {
		if len(want) == 0 || want[sec.name] {
			s.section(sec.name, 90*time.Second, sec.fn)
		}
	}

	if !*keep {
		s.current = "cleanup"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.kube.CoreV1().Namespaces().Delete(ctx, s.ns, metav1.DeleteOptions{}); err != nil {
			fmt.Fprintf(os.Stderr, "den-clients: delete namespace %s: %v\n", s.ns, err)
		}
		if s.crdReady {
			if err := s.ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "widgets."+s.crdGroup, metav1.DeleteOptions{}); err != nil {
				fmt.Fprintf(os.Stderr, "den-clients: delete CRD: %v\n", err)
			}
		}
		cancel()
	}
	fmt.Printf("den-clients: done in %.1fs\n", time.Since(start).Seconds())
	fmt.Printf("%d passed, %d failed\n", s.passed, s.failed)
	if s.failed > 0 {
		os.Exit(1)
	}
}

// errString renders an error for a failure message ("<nil>" when there is none).
func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	var status interface{ Status() metav1.Status }
	if errors.As(err, &status) {
		st := status.Status()
		return fmt.Sprintf("%v (HTTP %d, reason %q)", err, st.Code, st.Reason)
	}
	return err.Error()
}

// statusCode is the HTTP status of an API error (0 when err is nil or not an API status).
func statusCode(err error) int32 {
	var status interface{ Status() metav1.Status }
	if errors.As(err, &status) {
		return status.Status().Code
	}
	return 0
}
