package kubernetes

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/bucketftp/bucketftp/auth"
)

// objects are decoded manifests, by kind.
type objects struct {
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	services        []corev1.Service
	statefulSets    []appsv1.StatefulSet
	pdbs            []policyv1.PodDisruptionBudget
	serviceAccounts []corev1.ServiceAccount
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeAll decodes every document of a YAML stream strictly (unknown or
// duplicate fields fail) with the Kubernetes API type of its kind.
func decodeAll(t *testing.T, source string, b []byte, o *objects) {
	t.Helper()
	for i, doc := range docSeparator.Split(string(b), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s, document %d: %v", source, i, err)
		}
		strict := func(into any) {
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("%s, document %d (%s): %v", source, i, tm.Kind, err)
			}
		}
		switch tm.APIVersion + " " + tm.Kind {
		case " ":
			if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) != "" {
				t.Fatalf("%s, document %d has no kind:\n%s", source, i, doc)
			}
		case "v1 ConfigMap":
			var v corev1.ConfigMap
			strict(&v)
			o.configMaps = append(o.configMaps, v)
		case "v1 Secret":
			var v corev1.Secret
			strict(&v)
			o.secrets = append(o.secrets, v)
		case "v1 Service":
			var v corev1.Service
			strict(&v)
			o.services = append(o.services, v)
		case "v1 ServiceAccount":
			var v corev1.ServiceAccount
			strict(&v)
			o.serviceAccounts = append(o.serviceAccounts, v)
		case "apps/v1 StatefulSet":
			var v appsv1.StatefulSet
			strict(&v)
			o.statefulSets = append(o.statefulSets, v)
		case "policy/v1 PodDisruptionBudget":
			var v policyv1.PodDisruptionBudget
			strict(&v)
			o.pdbs = append(o.pdbs, v)
		default:
			t.Fatalf("%s, document %d: unexpected %s %s", source, i, tm.APIVersion, tm.Kind)
		}
	}
}

// knownSettings are the variables bucketftp reads, from the generated
// option table.
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile("`(BUCKETFTP_[A-Z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		known[m[1]] = true
	}
	return known
}

func (o *objects) configMap(name string) *corev1.ConfigMap {
	for i := range o.configMaps {
		if o.configMaps[i].Name == name {
			return &o.configMaps[i]
		}
	}
	return nil
}

func (o *objects) secret(name string) *corev1.Secret {
	for i := range o.secrets {
		if o.secrets[i].Name == name {
			return &o.secrets[i]
		}
	}
	return nil
}

// environment is what the container's process sees: its ConfigMaps'
// entries and its literal variables; a variable from elsewhere (a Secret, a
// field) maps to its source.
type environment struct {
	values  map[string]string
	sources map[string]*corev1.EnvVarSource
}

func containerEnv(t *testing.T, o *objects, c corev1.Container) environment {
	t.Helper()
	env := environment{values: map[string]string{}, sources: map[string]*corev1.EnvVarSource{}}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("envFrom other than a ConfigMap: %+v", from)
			continue
		}
		cm := o.configMap(from.ConfigMapRef.Name)
		if cm == nil {
			t.Errorf("envFrom names ConfigMap %s, which is not in the manifests", from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env.values[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		delete(env.values, e.Name)
		if e.ValueFrom != nil {
			env.sources[e.Name] = e.ValueFrom
		} else {
			env.values[e.Name] = e.Value
		}
	}
	return env
}

// checkEnvNames: every BUCKETFTP_ variable is a bucketftp setting, and the
// others are the AWS SDK's.
func checkEnvNames(t *testing.T, env environment) {
	t.Helper()
	known := knownSettings(t)
	var names []string
	for k := range env.values {
		names = append(names, k)
	}
	for k := range env.sources {
		names = append(names, k)
	}
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, "BUCKETFTP_"):
			if !known[name] {
				t.Errorf("the container gets %s, which is no bucketftp setting", name)
			}
		case !strings.HasPrefix(name, "AWS_"):
			t.Errorf("the container gets %s, which neither bucketftp nor the AWS SDK reads", name)
		}
	}
}

// portRange parses BUCKETFTP_PASSIVE_PORTS as the server does.
func portRange(t *testing.T, s string) (lo, hi int) {
	t.Helper()
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		t.Fatalf("passive range %q", s)
	}
	return lo, hi
}

// deployment is what checkReplicas found, for a caller's own checks.
type deployment struct {
	sts     appsv1.StatefulSet
	env     environment
	control int32 // the control port, BUCKETFTP_LISTEN
	// slice[i] is the first and last passive port replica i hands out.
	slice [][2]int
	// perPod[i] are the Services that route replica i's slice.
	perPod [][]corev1.Service
	// controlServices select every pod and publish the control port.
	controlServices []corev1.Service
}

// checkReplicas checks manifests for a StatefulSet of bucketftp replicas:
// every passive port a replica can hand out is routed to that replica and
// to no other, each pod has a Service with exactly its slice, the control
// port reaches all pods, and probes, draining, settings, users and
// security fit the server.
func checkReplicas(t *testing.T, o *objects) deployment {
	t.Helper()
	if len(o.statefulSets) != 1 {
		t.Fatalf("want one StatefulSet, got %d", len(o.statefulSets))
	}
	d := deployment{sts: o.statefulSets[0]}
	sts := d.sts
	n := 1
	if sts.Spec.Replicas != nil {
		n = int(*sts.Spec.Replicas)
	}
	pod := sts.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	d.env = containerEnv(t, o, c)
	env := d.env.values
	checkEnvNames(t, d.env)

	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	target := func(p corev1.ServicePort) int32 { // a Service port's container port
		if p.TargetPort.Type == intstr.String {
			return containerPorts[p.TargetPort.StrVal]
		}
		if p.TargetPort.IntVal == 0 {
			return p.Port
		}
		return p.TargetPort.IntVal
	}
	d.control = port(t, env["BUCKETFTP_LISTEN"])
	metricsPort := port(t, env["BUCKETFTP_METRICS_LISTEN"])
	if !slices.Contains(mapValues(containerPorts), d.control) || !slices.Contains(mapValues(containerPorts), metricsPort) {
		t.Errorf("container ports %v must include the control port %d and the metrics port %d", containerPorts, d.control, metricsPort)
	}

	// The slices, as the server computes them: the ordinal from the pod's
	// host name (<StatefulSet>-N), per-replica ports of the range.
	lo, hi := portRange(t, env["BUCKETFTP_PASSIVE_PORTS"])
	per := hi - lo + 1
	if s, ok := env["BUCKETFTP_PASSIVE_PORTS_PER_REPLICA"]; ok {
		var err error
		if per, err = strconv.Atoi(s); err != nil || per < 1 {
			t.Fatalf("BUCKETFTP_PASSIVE_PORTS_PER_REPLICA %q", s)
		}
	} else if n > 1 {
		t.Fatalf("%d replicas without BUCKETFTP_PASSIVE_PORTS_PER_REPLICA would all hand out the whole range", n)
	}
	if v, ok := env["BUCKETFTP_REPLICA_ORDINAL"]; ok && v != "-1" {
		t.Fatalf("BUCKETFTP_REPLICA_ORDINAL=%s gives every pod the same slice; leave it to the host name", v)
	}
	if src := d.env.sources["BUCKETFTP_REPLICA_ORDINAL"]; src != nil &&
		(src.FieldRef == nil || src.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']") {
		t.Fatalf("BUCKETFTP_REPLICA_ORDINAL from %+v is not the pod's index", src)
	}
	if pod.Spec.Hostname != "" {
		t.Fatalf("the pod template sets hostname %q: the ordinal comes from the StatefulSet's pod names", pod.Spec.Hostname)
	}
	owner := func(p int) int { // the replica that hands out port p, or -1
		if p < lo || p > hi || (p-lo)/per >= n {
			return -1
		}
		return (p - lo) / per
	}
	for i := range n {
		first := lo + i*per
		if last := first + per - 1; last > hi {
			t.Fatalf("replica %d's slice %d-%d is outside the range %d-%d: it would not start", i, first, last, lo, hi)
		}
		d.slice = append(d.slice, [2]int{first, first + per - 1})
	}

	// The pods the StatefulSet makes, with the labels its controller adds.
	podLabels := make([]labels.Set, n)
	for i := range n {
		l := labels.Set{}
		for k, v := range pod.Labels {
			l[k] = v
		}
		l["statefulset.kubernetes.io/pod-name"] = fmt.Sprintf("%s-%d", sts.Name, i)
		l["apps.kubernetes.io/pod-index"] = strconv.Itoa(i)
		podLabels[i] = l
	}
	selected := func(sel map[string]string) []int {
		var out []int
		if len(sel) == 0 {
			return out
		}
		for i, l := range podLabels {
			if labels.SelectorFromSet(sel).Matches(l) {
				out = append(out, i)
			}
		}
		return out
	}
	all := make([]int, n)
	for i := range n {
		all[i] = i
	}
	if sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector); err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("StatefulSet selector does not match its pod labels %v (%v)", pod.Labels, err)
	}

	// Every Service: a passive port goes, one to one, to its owner alone.
	d.perPod = make([][]corev1.Service, n)
	headless := false
	for _, svc := range o.services {
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			if svc.Name == sts.Spec.ServiceName && slices.Equal(selected(svc.Spec.Selector), all) {
				headless = true
			}
			continue
		}
		pods := selected(svc.Spec.Selector)
		if len(pods) == 0 {
			t.Errorf("Service %s selects no pod", svc.Name)
			continue
		}
		passive := map[int]bool{}
		hasControl := false
		for _, p := range svc.Spec.Ports {
			tp := target(p)
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				t.Errorf("Service %s port %s is %s, not TCP", svc.Name, p.Name, p.Protocol)
			}
			switch {
			case tp == d.control:
				hasControl = true
			case int(tp) >= lo && int(tp) <= hi:
				if p.Port != tp {
					t.Errorf("Service %s publishes passive port %d as %d: PASV and EPSV name the pod's port", svc.Name, tp, p.Port)
				}
				if own := owner(int(tp)); own < 0 || !slices.Equal(pods, []int{own}) {
					t.Errorf("Service %s routes passive port %d to pods %v; only replica %d hands it out", svc.Name, tp, pods, own)
				}
				passive[int(tp)] = true
			default:
				t.Errorf("Service %s publishes port %d, which is neither the control port nor a passive port", svc.Name, tp)
			}
		}
		if len(passive) > 0 && len(pods) == 1 {
			d.perPod[pods[0]] = append(d.perPod[pods[0]], svc)
			i := pods[0]
			for p := d.slice[i][0]; p <= d.slice[i][1]; p++ {
				if !passive[p] {
					t.Errorf("Service %s of replica %d lacks port %d of its slice %d-%d", svc.Name, i, p, d.slice[i][0], d.slice[i][1])
				}
			}
		}
		if hasControl && slices.Equal(pods, all) {
			d.controlServices = append(d.controlServices, svc)
		}
	}
	for i := range n {
		if len(d.perPod[i]) == 0 {
			t.Errorf("no Service routes replica %d's slice %d-%d to it", i, d.slice[i][0], d.slice[i][1])
		}
	}
	if len(d.controlServices) == 0 {
		t.Errorf("no Service sends the control port %d to all %d pods", d.control, n)
	}
	if !headless {
		t.Errorf("the StatefulSet's serviceName %q is no headless Service selecting its pods", sts.Spec.ServiceName)
	}

	// Probes hit the real endpoints on the metrics listener.
	for path, probe := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path {
			t.Errorf("probe for %s missing or wrong", path)
			continue
		}
		got := probe.HTTPGet.Port.IntVal
		if probe.HTTPGet.Port.Type == intstr.String {
			got = containerPorts[probe.HTTPGet.Port.StrVal]
		}
		if got != metricsPort {
			t.Errorf("probe %s uses port %q, not the metrics port %d", path, probe.HTTPGet.Port.String(), metricsPort)
		}
	}

	// Pods outlive the drain.
	grace := 30 * time.Second // the server's default
	if s, ok := env["BUCKETFTP_SHUTDOWN_GRACE"]; ok {
		var err error
		if grace, err = time.ParseDuration(s); err != nil {
			t.Errorf("BUCKETFTP_SHUTDOWN_GRACE %q: %v", s, err)
		}
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil || time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second <= grace {
		t.Errorf("terminationGracePeriodSeconds must exceed the shutdown grace %v", grace)
	}

	// A drain may take one pod, never the last one all at once.
	if len(o.pdbs) != 1 {
		t.Errorf("want one PodDisruptionBudget, got %d", len(o.pdbs))
	} else {
		pdb := o.pdbs[0]
		if !slices.Equal(selected(pdb.Spec.Selector.MatchLabels), all) {
			t.Errorf("PodDisruptionBudget does not select the pods")
		}
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget: want maxUnavailable 1, got %v", pdb.Spec.MaxUnavailable)
		}
	}

	// PROXY protocol from trusted balancers only.
	if m := env["BUCKETFTP_PROXY_PROTOCOL"]; m == "optional" || m == "required" {
		if env["BUCKETFTP_PROXY_TRUSTED"] == "" {
			t.Errorf("BUCKETFTP_PROXY_PROTOCOL=%s without BUCKETFTP_PROXY_TRUSTED: the server refuses to start", m)
		}
	}

	checkAddressLimits(t, env, d.controlServices, per)
	checkPodBasics(t, o, pod, c, env["BUCKETFTP_USERS"])
	return d
}

// clientAddressSeen: whether a pod sees each client's own address through
// these control Services: PROXY protocol, or every one a LoadBalancer or
// NodePort with externalTrafficPolicy Local whose balancer keeps the
// source address (an AWS NLB with IP targets does not).
func clientAddressSeen(env map[string]string, services []corev1.Service) bool {
	if m := env["BUCKETFTP_PROXY_PROTOCOL"]; m == "optional" || m == "required" {
		return true
	}
	for _, svc := range services {
		if (svc.Spec.Type != corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeNodePort) ||
			svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
			svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip" {
			return false
		}
	}
	return len(services) > 0
}

// checkAddressLimits: the manifests set the connection limits, and the
// per-address ones fit how a pod sees clients. With each client's own
// address they stay below the pod's own; with every client behind the
// balancer's address they are at least the pod's own (sessions, and the
// passive ports a pod hands out), or the pod refuses clients while it has
// room for them.
func checkAddressLimits(t *testing.T, env map[string]string, services []corev1.Service, passivePorts int) {
	t.Helper()
	limit := func(name string) int {
		n, err := strconv.Atoi(env[name])
		if err != nil || n < 1 {
			t.Errorf("%s %q: want a positive number, set next to the Services that decide what it means", name, env[name])
		}
		return n
	}
	total, perIP, pasv := limit("BUCKETFTP_MAX_CONNECTIONS"), limit("BUCKETFTP_MAX_CONNECTIONS_PER_IP"), limit("BUCKETFTP_MAX_PASSIVE_PER_IP")
	if clientAddressSeen(env, services) {
		if perIP >= total {
			t.Errorf("the pod sees each client's address, but BUCKETFTP_MAX_CONNECTIONS_PER_IP %d is not below BUCKETFTP_MAX_CONNECTIONS %d: one address can take the pod", perIP, total)
		}
		return
	}
	if perIP < total {
		t.Errorf("every client has the balancer's address, so BUCKETFTP_MAX_CONNECTIONS_PER_IP %d refuses sessions below BUCKETFTP_MAX_CONNECTIONS %d", perIP, total)
	}
	if pasv < passivePorts {
		t.Errorf("every client has the balancer's address, so BUCKETFTP_MAX_PASSIVE_PER_IP %d holds PASV back with %d passive ports free", pasv, passivePorts)
	}
}

// documentedDefault is a setting's default from docs/configuration.md, the
// server's option table.
func documentedDefault(t *testing.T, env string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if cols := strings.Split(line, "|"); len(cols) > 5 && strings.TrimSpace(cols[2]) == "`"+env+"`" {
			return strings.Trim(strings.TrimSpace(cols[4]), "`")
		}
	}
	t.Fatalf("docs/configuration.md has no row for %s", env)
	return ""
}

// checkPodBasics: locked down, resources set, users file from a Secret
// directory mount.
func checkPodBasics(t *testing.T, o *objects, pod corev1.PodTemplateSpec, c corev1.Container, usersPath string) {
	t.Helper()
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
		t.Errorf("security context must be non-root, read-only root, no privilege escalation, capabilities dropped")
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources must be set")
	}
	var secret *corev1.Secret
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil && vm.SubPath == "" && strings.HasPrefix(usersPath, vm.MountPath+"/") {
				secret = o.secret(v.Secret.SecretName)
			}
		}
	}
	if secret == nil {
		t.Errorf("%q is not in a directory mount of a Secret of the manifests", usersPath)
		return
	}
	users := secret.StringData["users.yaml"]
	if users == "" {
		users = string(secret.Data["users.yaml"])
	}
	if _, err := auth.ParseUsers([]byte(users)); err != nil {
		t.Errorf("Secret %s: users.yaml is not a valid users file: %v", secret.Name, err)
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestStatefulSetManifests: the kustomize variant for several replicas
// routes each replica's passive slice to it alone.
func TestStatefulSetManifests(t *testing.T) {
	t.Parallel()
	var k kustomization
	decode(t, "statefulset/kustomization.yaml", &k)
	files, err := os.ReadDir("statefulset")
	if err != nil {
		t.Fatal(err)
	}
	var o objects
	for _, f := range files {
		if f.Name() == "kustomization.yaml" {
			continue
		}
		if !slices.Contains(k.Resources, f.Name()) {
			t.Errorf("statefulset/kustomization.yaml does not list %s", f.Name())
		}
	}
	for _, r := range k.Resources {
		b, err := os.ReadFile("statefulset/" + r)
		if err != nil {
			t.Fatalf("kustomization resource: %v", err)
		}
		decodeAll(t, r, b, &o)
	}
	d := checkReplicas(t, &o)
	if n := len(d.slice); n < 2 {
		t.Errorf("the StatefulSet variant has %d replicas; it is the layout for several", n)
	}
	for _, svc := range append(d.controlServices, slices.Concat(d.perPod...)...) {
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			t.Errorf("Service %s must be a LoadBalancer with externalTrafficPolicy Local (the client's address)", svc.Name)
		}
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			t.Errorf("Service %s relies on ClientIP affinity, which does not keep a client on one replica", svc.Name)
		}
	}
	if !strings.Contains(d.env.values["BUCKETFTP_PUBLIC_HOST"], "{ordinal}") {
		t.Errorf("per-pod LoadBalancer Services need a per-replica public host, got %q", d.env.values["BUCKETFTP_PUBLIC_HOST"])
	}
	if len(k.Images) != 1 || k.Images[0].Name != d.sts.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("kustomization images must name the container image")
	}
}
