package ftptest

import (
	"context"
	"io"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// linkingBackend reports the directories named "loop" as reached through
// a symbolic link, as a local directory does.
type linkingBackend struct{ storage.Backend }

func (b linkingBackend) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		for e, err := range b.Backend.List(ctx, dir) {
			if e.Name == "loop" {
				e.Link = true
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// testListTreeLinks: LIST -R lists a link to a directory but does not
// enter it (ls -R does not follow links; a link to "." would repeat the
// tree until the limit).
func testListTreeLinks(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, linkingBackend{nb(t)})
	c := e.login("alice")
	for _, d := range []string{"loop", "sub"} {
		c.must("MKD "+d, 257)
	}
	e.put("/alice/loop/x", "x")
	e.put("/alice/sub/y", "y")
	got, _ := c.listText("LIST -R")
	if shape := strings.ReplaceAll(strings.Join(treeNames(got), " "), "  ", " | "); shape != "loop sub | sub: y" {
		t.Errorf("LIST -R with a link:\n%s\nshape %q", got, shape)
	}
}

// treeNames reduces a LIST -R listing to its shape: the name of each
// entry, the blank lines and the section headers.
func treeNames(listing string) []string {
	var out []string
	for line := range strings.SplitSeq(strings.TrimSuffix(listing, "\r\n"), "\r\n") {
		if line == "" || strings.HasSuffix(line, ":") {
			out = append(out, line)
			continue
		}
		f := strings.Fields(line)
		out = append(out, f[len(f)-1])
	}
	return out
}

// listText runs a listing command and returns what came over the data
// connection and the text of the 226.
func (c *ctl) listText(line string) (string, string) {
	c.t.Helper()
	d := c.pasv()
	c.send(line)
	c.expect1xx()
	_ = d.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b), c.expect(226)
}

// testListTree: LIST -R lists subdirectories depth first, each after a
// blank line and its path, as ProFTPD does; NLST -R does not recurse (as
// there); the walk stops at the configured number of entries and says so.
func testListTree(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t), func(c *ftp.Config) { c.ListTreeMax = 6 })
	c := e.login("alice")
	for _, d := range []string{"sub", "sub/deeper", "z"} {
		c.must("MKD "+d, 257)
	}
	e.put("/alice/a.txt", "a")
	e.put("/alice/sub/b.txt", "bb")
	e.put("/alice/sub/deeper/c.txt", "ccc")

	want := "a.txt sub z | sub: b.txt deeper | sub/deeper: c.txt | z:"
	check := func(cmd, want string) string {
		t.Helper()
		got, text := c.listText(cmd)
		shape := strings.ReplaceAll(strings.Join(treeNames(got), " "), "  ", " | ")
		if shape != want {
			t.Errorf("%s:\n%s\nshape %q, want %q", cmd, got, shape, want)
		}
		return text
	}
	// Six entries, the limit: all shown, and not called cut.
	if text := check("LIST -R", want); strings.Contains(text, "stopped") {
		t.Errorf("a listing of exactly the limit called cut: %q", text)
	}
	check("LIST -laR", want)
	check("LIST -a -R", want)
	check("LIST -R sub", "b.txt deeper | sub/deeper: c.txt")
	check("LIST -lR sub/", "b.txt deeper | sub/deeper: c.txt")
	check("LIST -R /sub", "b.txt deeper | /sub/deeper: c.txt")
	check("LIST -R ./sub", "b.txt deeper | ./sub/deeper: c.txt")
	check("LIST -R /", "a.txt sub z | /sub: b.txt deeper | /sub/deeper: c.txt | /z:")
	check("LIST -R sub/deeper/c.txt", "c.txt")
	check("LIST -R *.txt", "a.txt")
	if got := c.list("NLST -R"); got != "a.txt\r\nsub\r\nz\r\n" {
		t.Errorf("NLST -R = %q", got)
	}
	c.pasv()
	c.must("LIST -R missing", 550)

	// One entry more: the walk stops before the seventh and says so.
	e.put("/alice/d.txt", "d")
	if text := check("LIST -R", "a.txt d.txt sub z | sub: b.txt deeper"); !strings.Contains(text, "stopped at 6 entries") {
		t.Errorf("cut listing's 226: %q", text)
	}
	c.must("NOOP", 200)
}
