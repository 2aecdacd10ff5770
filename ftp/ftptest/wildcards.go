package ftptest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// testWildcards: NLST, LIST and STAT expand *, ? and [...] in the last
// component, as vsftpd and ProFTPD do for mget and mdelete; an exact name
// wins, escapes work, a pattern elsewhere is a name, MLSD and MLST take
// none, and a pathological pattern finishes at once.
func testWildcards(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	for _, d := range []string{"/alice/sub", "/alice/dir.csv"} {
		if err := e.backend.Mkdir(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a.csv", "b.csv", "r1.csv", "r2.csv", "notes.txt", "sub/x.csv", "sub/y.txt", "star*.txt", "br[1].txt", "dir.csv/inner"} {
		e.put("/alice/"+f, "content of "+f)
	}
	c := e.login("alice")
	names := func(line string) []string {
		t.Helper()
		got := strings.Fields(c.list(line))
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"NLST *.csv", []string{"a.csv", "b.csv", "dir.csv", "r1.csv", "r2.csv"}},
		{"NLST r*.csv", []string{"r1.csv", "r2.csv"}},
		{"NLST ?.csv", []string{"a.csv", "b.csv"}},
		{"NLST [ab].csv", []string{"a.csv", "b.csv"}},
		{"NLST [!ab]*.csv", []string{"dir.csv", "r1.csv", "r2.csv"}},
		{"NLST sub/*.csv", []string{"sub/x.csv"}},
		{"NLST /sub/*.txt", []string{"/sub/y.txt"}},
		{"NLST -l *.txt", []string{"br[1].txt", "notes.txt", "star*.txt"}},
		{"NLST star*.txt", []string{"star*.txt"}},   // the exact name wins
		{`NLST star\*.txt`, []string{"star*.txt"}},  // escaped
		{"NLST br[1].txt", []string{"br[1].txt"}},   // the exact name wins
		{`NLST br\[1\].txt`, []string{"br[1].txt"}}, // escaped
		{"NLST sub", []string{"sub/x.csv", "sub/y.txt"}},
	} {
		if got := names(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.line, got, tc.want)
		}
	}
	if got := c.list("LIST -la *.csv"); strings.Count(got, "\r\n") != 5 || !strings.Contains(got, " r1.csv\r\n") || !strings.Contains(got, " dir.csv\r\n") || strings.Contains(got, "notes") {
		t.Errorf("LIST -la *.csv:\n%s", got)
	}
	// No match: NLST 450 "No files found", LIST an empty listing (as
	// ProFTPD answers). A pattern in an earlier component, or a malformed
	// one, is a name, here a missing one.
	for _, tc := range []struct {
		line string
		code int
	}{{"NLST *.xyz", 450}, {"NLST empty*/x", 550}, {"NLST */x.csv", 550}, {"NLST [[[[[[[[", 550}} {
		d := c.pasv()
		code, text := c.cmd(tc.line)
		d.Close()
		if code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.line, code, text, tc.code)
		}
	}
	if got := c.list("LIST *.xyz"); got != "" {
		t.Errorf("LIST *.xyz: %q, want an empty listing", got)
	}
	if text := c.must("STAT *.csv", 212); !strings.Contains(text, " r2.csv") || strings.Contains(text, "notes.txt") {
		t.Errorf("STAT *.csv: %q", text)
	}
	// MLSD and MLST take no patterns (RFC 3659).
	d := c.pasv()
	c.must("MLSD *.csv", 550)
	d.Close()
	c.must("MLST *.csv", 550)

	// A pattern that backtracking matchers take exponential time over.
	e.put("/alice/"+strings.Repeat("a", 200), "x")
	start := time.Now()
	d = c.pasv()
	code, _ := c.cmd("NLST " + strings.Repeat("*a", 60) + "*b")
	d.Close()
	if code != 450 {
		t.Errorf("pathological pattern: %d, want 450", code)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("pathological pattern took %v", took)
	}
	c.must("NOOP", 200)
}
