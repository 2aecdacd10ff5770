// Package kubernetes holds bucketftp's Kubernetes manifests; this test
// decodes them strictly with the Kubernetes API types and checks that they
// fit together and fit the server.
package kubernetes

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/bucketftp/bucketftp/auth"
)

type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

func decode(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func port(t *testing.T, listen string) int32 {
	t.Helper()
	_, p, ok := strings.Cut(listen, ":")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		t.Fatalf("listen address %q", listen)
	}
	return int32(n)
}

func TestManifests(t *testing.T) {
	t.Parallel()
	var k kustomization
	decode(t, "kustomization.yaml", &k)
	want := map[string]bool{"configmap.yaml": true, "secret.yaml": true, "deployment.yaml": true, "service.yaml": true, "pdb.yaml": true}
	for _, r := range k.Resources {
		if !want[r] {
			t.Errorf("kustomization lists unknown resource %s", r)
		}
		delete(want, r)
	}
	if len(want) != 0 {
		t.Errorf("kustomization misses %v", want)
	}

	var cm corev1.ConfigMap
	var secret corev1.Secret
	var dep appsv1.Deployment
	var svc corev1.Service
	var pdb policyv1.PodDisruptionBudget
	decode(t, "configmap.yaml", &cm)
	decode(t, "secret.yaml", &secret)
	decode(t, "deployment.yaml", &dep)
	decode(t, "service.yaml", &svc)
	decode(t, "pdb.yaml", &pdb)

	// Every variable in the ConfigMap is one bucketftp reads.
	known := knownSettings(t)
	for name := range cm.Data {
		if !known[name] {
			t.Errorf("ConfigMap sets %s, which is no bucketftp setting", name)
		}
	}

	// One replica: several would share one passive range and one Service,
	// and a data connection could reach a pod that did not hand its port
	// out (the StatefulSet variant is for several).
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
		t.Errorf("the Deployment must have one replica; several need deploy/kubernetes/statefulset")
	}
	if _, ok := cm.Data["BUCKETFTP_PASSIVE_PORTS_PER_REPLICA"]; ok {
		t.Errorf("the one-replica ConfigMap needs no BUCKETFTP_PASSIVE_PORTS_PER_REPLICA")
	}
	if pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.IntValue() >= int(*dep.Spec.Replicas) {
		t.Errorf("PodDisruptionBudget minAvailable %v blocks every drain of %d replicas", pdb.Spec.MinAvailable, *dep.Spec.Replicas)
	}

	pod := dep.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("container does not take its environment from ConfigMap %s", cm.Name)
	}
	containerPorts := map[int32]string{}
	for _, p := range c.Ports {
		containerPorts[p.ContainerPort] = p.Name
	}
	servicePorts := map[int32]int32{} // targetPort -> port
	for _, p := range svc.Spec.Ports {
		servicePorts[p.TargetPort.IntVal] = p.Port
	}

	// The control port and every passive port are served and published;
	// passive ports one to one, since PASV replies name them.
	ftpPort := port(t, cm.Data["BUCKETFTP_LISTEN"])
	if _, ok := containerPorts[ftpPort]; !ok {
		t.Errorf("control port %d is not a container port", ftpPort)
	}
	if _, ok := servicePorts[ftpPort]; !ok {
		t.Errorf("control port %d is not a Service target", ftpPort)
	}
	lo, hi, ok := strings.Cut(cm.Data["BUCKETFTP_PASSIVE_PORTS"], "-")
	from, err1 := strconv.Atoi(lo)
	to, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || from > to {
		t.Fatalf("passive range %q", cm.Data["BUCKETFTP_PASSIVE_PORTS"])
	}
	for p := int32(from); p <= int32(to); p++ {
		if _, ok := containerPorts[p]; !ok {
			t.Errorf("passive port %d is not a container port", p)
		}
		if sp, ok := servicePorts[p]; !ok || sp != p {
			t.Errorf("passive port %d is not published one to one by the Service (got %d)", p, sp)
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP ||
		svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service must be a LoadBalancer with ClientIP affinity and externalTrafficPolicy Local")
	}

	checkAddressLimits(t, cm.Data, []corev1.Service{svc}, to-from+1)

	// Probes hit the real endpoints on the metrics listener.
	metricsPort := port(t, cm.Data["BUCKETFTP_METRICS_LISTEN"])
	for name, probe := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name {
			t.Errorf("probe for %s missing or wrong", name)
			continue
		}
		if containerPorts[metricsPort] != probe.HTTPGet.Port.StrVal {
			t.Errorf("probe %s uses port %q, not the metrics port %d", name, probe.HTTPGet.Port.String(), metricsPort)
		}
	}

	// Pods outlive the drain.
	grace, err := time.ParseDuration(cm.Data["BUCKETFTP_SHUTDOWN_GRACE"])
	if err != nil || pod.Spec.TerminationGracePeriodSeconds == nil ||
		time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second <= grace {
		t.Errorf("terminationGracePeriodSeconds must exceed the shutdown grace %v", grace)
	}

	// Locked down.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
		t.Errorf("security context must be non-root, read-only root, no privilege escalation, capabilities dropped")
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources must be set")
	}

	// Selectors agree.
	podLabels := labels.Set(pod.Labels)
	if !labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(podLabels) ||
		!labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) ||
		!labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("Deployment, Service and PodDisruptionBudget selectors must match the pod labels %v", pod.Labels)
	}

	// The users file comes from the Secret, mounted as a directory (so
	// updates arrive), and is one bucketftp accepts.
	usersPath := cm.Data["BUCKETFTP_USERS"]
	mounted := false
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name == vm.Name && v.Secret != nil && v.Secret.SecretName == secret.Name && vm.SubPath == "" &&
				strings.HasPrefix(usersPath, vm.MountPath+"/") {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("%s is not in a directory mount of Secret %s", usersPath, secret.Name)
	}
	if _, err := auth.ParseUsers([]byte(secret.StringData["users.yaml"])); err != nil {
		t.Errorf("the Secret's users.yaml is not a valid users file: %v", err)
	}
	if len(k.Images) != 1 || k.Images[0].Name != c.Image {
		t.Errorf("kustomization images must name the container image %q", c.Image)
	}
}
