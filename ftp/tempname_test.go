package ftp

import (
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func TestTempFinal(t *testing.T) {
	for _, tc := range []struct{ name, final string }{
		{"/d/.in.a.csv", "/d/a.csv"},
		{"/a.csv.part", "/a.csv"},
		{"/a.filepart", "/a"},
		{"/x/y.tmp", "/x/y"},
		{"/y.partial", "/y"},
		{"/.in.", ""},
		{"/.part", ""},
		{"/a.csv", ""},
		{"/..part", ""},
		{"/.in...", "/.."[:0]},
	} {
		got, ok := tempFinal(tc.name, DefaultTempNamePatterns)
		if got != tc.final || ok != (tc.final != "") {
			t.Errorf("tempFinal(%q) = %q, %v; want %q", tc.name, got, ok, tc.final)
		}
	}
	for p, ok := range map[string]bool{".in.*": true, "*.part": true, "*": false, "a": false, "*.*": false, "d/*.x": false} {
		if ValidTempNamePattern(p) != ok {
			t.Errorf("ValidTempNamePattern(%q) = %v", p, !ok)
		}
	}
}

// TestTempViewWraps: the session's temp-name view passes every ability on.
func TestTempViewWraps(t *testing.T) {
	storagetest.CheckWrap(t, func(b storage.Backend) storage.Backend {
		return &tempView{base: b, patterns: DefaultTempNamePatterns, hold: DefaultTempNameHold, held: map[string]*heldFile{}}
	})
}
