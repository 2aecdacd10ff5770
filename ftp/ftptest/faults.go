package ftptest

import (
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/faultstore"
)

// errSecretCause is backend error text that must never reach a client.
var errSecretCause = errors.New("s3://secret-bucket/alice: connection reset by 10.0.0.7")

func kindErr(kind error) func(string) error {
	return func(name string) error {
		if strings.HasSuffix(name, "/ok") {
			return nil
		}
		return storage.E("op", name, kind, errSecretCause)
	}
}

// TestBackendErrorsBecomeReplies drives each kind of backend failure
// through a real session and checks the reply code, that no backend text
// leaks, and that a reference id in the reply is in the log.
func testBackendErrorsBecomeReplies(t *testing.T, nb newBackend) {
	t.Parallel()
	fs := faultstore.New(nb(t))
	e := startServer(t, fs)
	e.put("/alice/f", "content")
	c := e.login("alice")
	c.must("TYPE I", 200)
	refRE := regexp.MustCompile(`\(ref ([0-9a-f]{8})\)`)

	check := func(what string, code int, text string, want int, wantRef bool) {
		t.Helper()
		if code != want {
			t.Fatalf("%s: got %d %q, want %d", what, code, text, want)
		}
		if strings.Contains(text, "secret") || strings.Contains(text, "10.0.0.7") {
			t.Fatalf("%s: reply leaks backend text: %q", what, text)
		}
		m := refRE.FindStringSubmatch(text)
		if (m != nil) != wantRef {
			t.Fatalf("%s: reply %q, want a reference id: %v", what, text, wantRef)
		}
		if m != nil && !strings.Contains(e.logs.String(), "ref="+m[1]) {
			t.Fatalf("%s: ref %s is not in the log", what, m[1])
		}
	}

	fs.SetFault("stat", kindErr(storage.ErrTransient))
	code, text := c.cmd("SIZE f")
	check("transient before a transfer", code, text, 450, true)
	fs.SetFault("stat", kindErr(storage.ErrPermission))
	code, text = c.cmd("MDTM f")
	check("permission", code, text, 550, false)
	fs.SetFault("stat", nil)

	fs.SetFault("mkdir", kindErr(storage.ErrInvalidName))
	code, text = c.cmd("MKD bad")
	check("name the backend refuses", code, text, 553, false)
	fs.SetFault("mkdir", kindErr(errors.New("weird")))
	code, text = c.cmd("MKD other")
	check("unclassified before a transfer", code, text, 451, true)
	fs.SetFault("mkdir", nil)

	for _, tc := range []struct {
		name string
		err  error
		want int
		ref  bool
	}{
		{"out of space", storage.E("put", "/x", storage.ErrNoSpace, errSecretCause), 452, true},
		{"quota", storage.E("put", "/x", storage.ErrQuota, errSecretCause), 552, false},
		{"transient after 150", storage.E("put", "/x", storage.ErrTransient, errSecretCause), 451, true},
		{"unclassified after 150", errSecretCause, 451, true},
	} {
		fs.FailPutAfter(3, tc.err)
		d := c.pasv()
		c.send("STOR up-" + strings.ReplaceAll(tc.name, " ", "-"))
		c.expect1xx()
		io.WriteString(d, "some data")
		d.Close()
		code, text := c.reply()
		check(tc.name, code, text, tc.want, tc.ref)
		if _, err := e.stored("/alice/up-" + strings.ReplaceAll(tc.name, " ", "-")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: failed upload visible: %v", tc.name, err)
		}
	}

	fs.SetFault("list", kindErr(storage.ErrTransient))
	c.pasv()
	code, text = c.cmd("LIST")
	check("listing while the store is down", code, text, 450, true)
	c.must("NOOP", 200)
}
