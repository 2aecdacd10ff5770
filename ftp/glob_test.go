package ftp

import (
	"path"
	"strings"
	"testing"
	"time"
)

func TestGlobHelpers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		isPattern bool
		prefix    string
	}{
		{"plain.csv", false, "plain.csv"},
		{"*.csv", true, ""},
		{"r*.csv", true, "r"},
		{"r?.csv", true, "r"},
		{"data[0-9].csv", true, "data"},
		{`star\*.txt`, true, "star*.txt"},
		{`a\b`, false, "ab"},
		{`br\[1].txt`, true, "br[1].txt"},
		{`x\`, false, "x"},
	} {
		if got := isPattern(tc.name); got != tc.isPattern {
			t.Errorf("isPattern(%q) = %v", tc.name, got)
		}
		if got := literalPrefix(tc.name); got != tc.prefix {
			t.Errorf("literalPrefix(%q) = %q, want %q", tc.name, got, tc.prefix)
		}
	}
	if got := shellPattern(`[!ab]*.csv`); got != `[^ab]*.csv` {
		t.Errorf("shellPattern: %q", got)
	}
	if got := shellPattern(`\[!x]`); got != `\[!x]` {
		t.Errorf("shellPattern of an escaped bracket: %q", got)
	}
	for _, tc := range []struct {
		p, dir, pattern string
		ok              bool
	}{
		{"/a/*.csv", "/a", "*.csv", true},
		{"/*.csv", "/", "*.csv", true},
		{"/a/b.csv", "", "", false},
		{"/*/x.csv", "", "", false}, // a pattern in an earlier component
		{"/[[[[", "", "", false},    // malformed
		{"/", "", "", false},
	} {
		dir, pattern, ok := globTarget(tc.p)
		if dir != tc.dir || pattern != tc.pattern || ok != tc.ok {
			t.Errorf("globTarget(%q) = %q, %q, %v", tc.p, dir, pattern, ok)
		}
	}
}

// path.Match, which the wildcards use, must stay linear in practice for
// the patterns that make backtracking matchers exponential (CVE-2010-2632).
func TestGlobPathologicalPatterns(t *testing.T) {
	name := strings.Repeat("a", 255)
	for _, pattern := range []string{strings.Repeat("*a", 127) + "*b", strings.Repeat("*", 254) + "b", strings.Repeat("?*", 127) + "b"} {
		start := time.Now()
		for range 100 {
			if ok, _ := path.Match(pattern, name); ok {
				t.Fatalf("%q matched", pattern[:20])
			}
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("100 matches of %q... took %v", pattern[:20], took)
		}
	}
}
