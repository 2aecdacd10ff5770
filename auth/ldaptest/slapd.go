// Package ldaptest starts a real OpenLDAP server (Debian's slapd) for
// tests: a generated configuration and an mdb database in a temporary
// directory, on 127.0.0.1 with a free port, with StartTLS under a CA made
// for the test.
package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Suffix, RootDN and RootPassword are the test directory's.
const (
	Suffix       = "dc=example,dc=org"
	RootDN       = "cn=admin," + Suffix
	RootPassword = "admin-secret"
)

// Server is a running slapd.
type Server struct {
	URL    string // ldap://127.0.0.1:PORT
	LDAPS  string // ldaps://127.0.0.1:PORT (TLS from the first byte)
	CAFile string // PEM of the CA that signed the server's certificate (for StartTLS and ldaps)

	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once
}

// Binary finds slapd: on PATH or in /usr/sbin, where Debian puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd", nil
	}
	return "", errors.New("slapd not found (Debian: apt-get install slapd ldap-utils)")
}

// Start starts a slapd with the users and groups organizational units
// (ou=people and ou=groups under Suffix) and the memberof overlay, and
// stops it when the test ends. Without slapd the test is skipped, unless
// CI is set: then it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI is set, so this is a failure", err)
		}
		t.Skipf("%v: skipping the LDAP test", err)
	}
	dir := t.TempDir()
	ca := writeCerts(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(config(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	var s *Server
	for attempt := 0; ; attempt++ {
		// A free port, which another process may take before slapd
		// binds it: then try another.
		var ports [2]int
		for i := range ports {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ports[i] = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		s, err = start(t, bin, conf, ports)
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatal(err)
		}
	}
	s.CAFile = ca
	t.Cleanup(s.Stop)
	s.seed(t)
	return s
}

func start(t testing.TB, bin, conf string, ports [2]int) (*Server, error) {
	url := "ldap://127.0.0.1:" + strconv.Itoa(ports[0])
	ldaps := "ldaps://127.0.0.1:" + strconv.Itoa(ports[1])
	var out strings.Builder
	// -d keeps slapd in the foreground; "stats" logs each operation.
	cmd := exec.Command(bin, "-f", conf, "-h", url+"/ "+ldaps+"/", "-d", "stats")
	w := &syncWriter{b: &out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{URL: url, LDAPS: ldaps, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("slapd exited at start:\n%s", w.String())
		default:
		}
		c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
		if err == nil {
			c.SetTimeout(5 * time.Second)
			err = c.Bind(RootDN, RootPassword)
			c.Close()
			if err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("slapd not answering on %s after 20s: %v\n%s", url, err, w.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		return len(p), nil // bounded: only the start matters
	}
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Stop kills slapd and waits for it to exit.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
}

func config(dir string) string {
	return fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
database mdb
maxsize 67108864
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
`, dir, Suffix, RootDN, RootPassword)
}

// Conn is a connection bound as the root DN, closed when the test ends.
func (s *Server) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(RootDN, RootPassword); err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *Server) seed(t testing.TB) {
	t.Helper()
	c := s.Conn(t)
	add := func(dn string, attrs map[string][]string) {
		r := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		if err := c.Add(r); err != nil {
			t.Fatalf("adding %s: %v", dn, err)
		}
	}
	add(Suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	add("ou=people,"+Suffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
	add("ou=groups,"+Suffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})
}

// AddUser adds uid=NAME,ou=people with password and the extra attributes
// (e.g. homeDirectory, employeeNumber), and returns its DN.
func (s *Server) AddUser(t testing.TB, name, password string, attrs map[string][]string) string {
	t.Helper()
	dn := "uid=" + ldap.EscapeDN(name) + ",ou=people," + Suffix
	all := map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {name}, "cn": {name}, "sn": {name}, "userPassword": {password}}
	if _, ok := attrs["homeDirectory"]; ok {
		all["objectClass"] = []string{"inetOrgPerson", "posixAccount"}
		all["uidNumber"], all["gidNumber"] = []string{"1000"}, []string{"1000"}
	}
	for k, v := range attrs {
		all[k] = v
	}
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range all {
		r.Attribute(k, v)
	}
	if err := s.Conn(t).Add(r); err != nil {
		t.Fatalf("adding %s: %v", dn, err)
	}
	return dn
}

// AddGroup adds cn=NAME,ou=groups, a groupOfNames of members (DNs), and
// returns its DN. The memberof overlay gives the members memberOf.
func (s *Server) AddGroup(t testing.TB, name string, members ...string) string {
	t.Helper()
	dn := "cn=" + ldap.EscapeDN(name) + ",ou=groups," + Suffix
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"groupOfNames"})
	r.Attribute("cn", []string{name})
	r.Attribute("member", members)
	if err := s.Conn(t).Add(r); err != nil {
		t.Fatalf("adding %s: %v", dn, err)
	}
	return dn
}

// AddService adds a service account, cn=NAME under Suffix, that can bind
// and read, and returns its DN.
func (s *Server) AddService(t testing.TB, name, password string) string {
	t.Helper()
	dn := "cn=" + ldap.EscapeDN(name) + "," + Suffix
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"organizationalRole", "simpleSecurityObject"})
	r.Attribute("cn", []string{name})
	r.Attribute("userPassword", []string{password})
	if err := s.Conn(t).Add(r); err != nil {
		t.Fatalf("adding %s: %v", dn, err)
	}
	return dn
}

// writeCerts makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it, in dir (ca.pem, server.pem, server.key); it returns the
// CA's path.
func writeCerts(t testing.TB, dir string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ldaptest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", der)
	write("server.key", "PRIVATE KEY", keyDER)
	return filepath.Join(dir, "ca.pem")
}
