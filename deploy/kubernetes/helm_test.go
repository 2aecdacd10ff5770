package kubernetes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const chart = "../helm/bucketftp"

// needHelm skips a test when helm is not installed, except in CI, where
// .ci/run installs it and a missing one is a failure.
func needHelm(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("helm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("helm is not installed (.ci/run installs it)")
		}
		t.Skip("helm is not installed")
	}
	return p
}

// runHelm runs helm with its own empty home, bounded in time, and returns
// its output and error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helm := needHelm(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// wantLimits checks the rendered connection limits: the pod's, and per
// client address its sessions and passive listeners.
func wantLimits(t *testing.T, d deployment, total, perIP, pasv string) {
	t.Helper()
	env := d.env.values
	if g := [3]string{env["BUCKETFTP_MAX_CONNECTIONS"], env["BUCKETFTP_MAX_CONNECTIONS_PER_IP"], env["BUCKETFTP_MAX_PASSIVE_PER_IP"]}; g != [3]string{total, perIP, pasv} {
		t.Errorf("limits (connections, per address, passive per address) %v, want %v", g, [3]string{total, perIP, pasv})
	}
}

func setArgs(set []string) []string {
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// TestHelmChart renders the chart for one and several replicas and checks,
// with the Kubernetes API types, that every passive port a replica can
// hand out reaches that replica and only it, and that helm lint is clean.
func TestHelmChart(t *testing.T) {
	t.Parallel()
	const ctl = "2121"
	for _, tc := range []struct {
		name     string
		release  string
		set      []string
		replicas int
		rangeOf  int // replicas the range is sized for
		check    func(t *testing.T, d deployment, o *objects)
	}{
		{name: "1 replica", release: "bucketftp", set: []string{"replicas=1"}, replicas: 1, rangeOf: 1},
		{name: "3 replicas", release: "bucketftp", set: []string{"replicas=3"}, replicas: 3, rangeOf: 3,
			check: func(t *testing.T, d deployment, o *objects) {
				if h := d.env.values["BUCKETFTP_PUBLIC_HOST"]; h != "ftp-{ordinal}.example.com" {
					t.Errorf("default public host %q, want one address per replica", h)
				}
				// externalTrafficPolicy Local keeps each client's address:
				// the server's own limits.
				wantLimits(t, d, documentedDefault(t, "BUCKETFTP_MAX_CONNECTIONS"),
					documentedDefault(t, "BUCKETFTP_MAX_CONNECTIONS_PER_IP"), documentedDefault(t, "BUCKETFTP_MAX_PASSIVE_PER_IP"))
				for _, svc := range o.services {
					if svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
						t.Errorf("Service %s is %s; by default every Service has an address", svc.Name, svc.Spec.Type)
					}
				}
			}},
		{name: "3 of 5 replicas behind AWS NLBs with PROXY protocol", release: "partners", replicas: 3, rangeOf: 5,
			set: []string{"replicas=3", "passivePorts.maxReplicas=5", "proxyProtocol.enabled=true", "proxyProtocol.trusted={10.0.0.0/16,10.1.0.0/16}",
				"awsLoadBalancer.enabled=true", "passiveServices.controlPort=true",
				`passiveServices.annotations.external-dns\.alpha\.kubernetes\.io/hostname=ftp-{ordinal}.example.com`},
			check: func(t *testing.T, d deployment, o *objects) {
				if d.sts.Name != "partners-bucketftp" {
					t.Errorf("StatefulSet %s, want partners-bucketftp", d.sts.Name)
				}
				if m, tr := d.env.values["BUCKETFTP_PROXY_PROTOCOL"], d.env.values["BUCKETFTP_PROXY_TRUSTED"]; m != "required" || tr != "10.0.0.0/16,10.1.0.0/16" {
					t.Errorf("PROXY settings %q %q, want required and the trusted CIDRs", m, tr)
				}
				// The PROXY header names each client: per-client limits
				// although the NLB's IP targets hide the address.
				wantLimits(t, d, "500", "200", "8")
				want := map[string]string{
					"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol":       "*",
					"service.beta.kubernetes.io/aws-load-balancer-type":                 "external",
					"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type":      "ip",
					"service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "tcp",
					"service.beta.kubernetes.io/aws-load-balancer-healthcheck-port":     ctl,
				}
				for _, svc := range o.services {
					if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
						continue
					}
					for k, v := range want {
						if svc.Annotations[k] != v {
							t.Errorf("Service %s: annotation %s is %q, want %q", svc.Name, k, svc.Annotations[k], v)
						}
					}
				}
				for i, svcs := range d.perPod {
					if len(svcs) != 1 {
						continue
					}
					svc := svcs[0]
					if h := svc.Annotations["external-dns.alpha.kubernetes.io/hostname"]; h != fmt.Sprintf("ftp-%d.example.com", i) {
						t.Errorf("Service %s: external-dns hostname %q", svc.Name, h)
					}
					if svc.Spec.Ports[0].TargetPort.String() != "ftp" {
						t.Errorf("Service %s does not publish the control port first for EPSV clients", svc.Name)
					}
				}
			}},
		{name: "one address with per-range routing", release: "bucketftp", replicas: 2, rangeOf: 2,
			set: []string{"passiveServices.type=ClusterIP", "publicHost=ftp.example.com", "service.type=ClusterIP"},
			check: func(t *testing.T, d deployment, o *objects) {
				for _, svcs := range d.perPod {
					for _, svc := range svcs {
						if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ExternalTrafficPolicy != "" {
							t.Errorf("Service %s: type %s, externalTrafficPolicy %q", svc.Name, svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
						}
					}
				}
				// Every client arrives from the balancer in front: the
				// per-address limits are the pod's.
				wantLimits(t, d, "500", "500", "20")
			}},
		{name: "AWS NLBs with IP targets without PROXY protocol", release: "bucketftp", replicas: 2, rangeOf: 2,
			set: []string{"awsLoadBalancer.enabled=true", "limits.maxConnections=800"},
			check: func(t *testing.T, d deployment, o *objects) {
				wantLimits(t, d, "800", "800", "20")
			}},
		{name: "limits set by hand", release: "bucketftp", replicas: 2, rangeOf: 2,
			set: []string{"service.externalTrafficPolicy=Cluster", "limits.maxConnections=300", "limits.maxConnectionsPerIP=400", "limits.maxPassivePerIP=30"},
			check: func(t *testing.T, d deployment, o *objects) {
				wantLimits(t, d, "300", "400", "30")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runHelm(t, append([]string{"template", tc.release, chart}, setArgs(tc.set)...)...)
			if err != nil {
				t.Fatal(err)
			}
			var o objects
			decodeAll(t, "helm template", []byte(out), &o)
			d := checkReplicas(t, &o)
			if len(d.slice) != tc.replicas {
				t.Fatalf("%d replicas, want %d", len(d.slice), tc.replicas)
			}
			// The values' slices: 20 ports each from 30000, the range
			// sized for rangeOf replicas.
			if r := d.env.values["BUCKETFTP_PASSIVE_PORTS"]; r != fmt.Sprintf("30000-%d", 30000+20*tc.rangeOf-1) {
				t.Errorf("passive range %s for %d replicas of 20 ports", r, tc.rangeOf)
			}
			for i, s := range d.slice {
				if s != [2]int{30000 + 20*i, 30019 + 20*i} {
					t.Errorf("replica %d slice %v", i, s)
				}
				for _, svc := range d.perPod[i] {
					if want := fmt.Sprintf("%s-%d", d.sts.Name, i); svc.Name != want {
						t.Errorf("replica %d's passive Service is %s, want %s", i, svc.Name, want)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, d, &o)
			}
			if out, err := runHelm(t, append([]string{"lint", "--strict", chart}, setArgs(tc.set)...)...); err != nil {
				t.Errorf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestHelmChartRefuses: values the server would refuse, or that would
// route ports wrongly, fail at helm template with a message.
func TestHelmChartRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{name: "PROXY protocol without trusted balancers", set: []string{"proxyProtocol.enabled=true"}, want: "proxyProtocol.enabled needs proxyProtocol.trusted"},
		{name: "a setting the chart computes", set: []string{"settings.BUCKETFTP_PASSIVE_PORTS=30000-30099"}, want: "settings.BUCKETFTP_PASSIVE_PORTS: the chart sets it"},
		{name: "range sized for fewer replicas", set: []string{"replicas=3", "passivePorts.maxReplicas=2"}, want: "passivePorts.maxReplicas (2) is below replicas (3)"},
		{name: "range beyond 65535", set: []string{"replicas=4", "passivePorts.first=65500"}, want: "passive range 65500-65579 must be within 1024-65535"},
		{name: "no public host", set: []string{"publicHost="}, want: "publicHost: the address clients reach"},
		{name: "no replica", set: []string{"replicas=0"}, want: "replicas must be at least 1"},
		{name: "a limit the chart sets", set: []string{"settings.BUCKETFTP_MAX_CONNECTIONS_PER_IP=50"}, want: "settings.BUCKETFTP_MAX_CONNECTIONS_PER_IP: the chart sets it"},
		{name: "no connections", set: []string{"limits.maxConnections=0"}, want: "limits.maxConnections must be at least 1"},
		{name: "no passive listener per address", set: []string{"limits.maxPassivePerIP=0"}, want: "limits.maxPassivePerIP must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runHelm(t, append([]string{"template", "bucketftp", chart}, setArgs(tc.set)...)...)
			if err == nil {
				t.Fatalf("rendered:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("no %q in:\n%s", tc.want, out)
			}
		})
	}
}
