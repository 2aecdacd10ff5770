package ftp

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bucketftp/bucketftp/storage"
)

func TestResolvePathTable(t *testing.T) {
	t.Parallel()
	name255 := strings.Repeat("n", 255)
	name256 := strings.Repeat("n", 256)
	// 16 components of 255 bytes: exactly 4096 bytes.
	deep := strings.Repeat("/"+name255, 16)
	cases := []struct {
		name      string
		cwd, arg  string
		want      string
		wantError bool
	}{
		{name: "empty is cwd", cwd: "/a/b", arg: "", want: "/a/b"},
		{name: "empty at root", cwd: "/", arg: "", want: "/"},
		{name: "dot is cwd", cwd: "/a/b", arg: ".", want: "/a/b"},
		{name: "relative", cwd: "/a/b", arg: "c", want: "/a/b/c"},
		{name: "relative from root", cwd: "/", arg: "c", want: "/c"},
		{name: "relative with dirs", cwd: "/a", arg: "b/c.txt", want: "/a/b/c.txt"},
		{name: "absolute", cwd: "/a/b", arg: "/c", want: "/c"},
		{name: "root", cwd: "/a/b", arg: "/", want: "/"},
		{name: "only slashes", cwd: "/a", arg: "///", want: "/"},
		{name: "dot dot", cwd: "/a/b", arg: "..", want: "/a"},
		{name: "dot dot at root stays", cwd: "/", arg: "..", want: "/"},
		{name: "many dot dots stay at root", cwd: "/a", arg: "../../../..", want: "/"},
		{name: "absolute dot dots stay at root", cwd: "/a", arg: "/../../x", want: "/x"},
		{name: "climb out and back in", cwd: "/a", arg: "../../etc/passwd", want: "/etc/passwd"},
		{name: "double slash prefix", cwd: "/a", arg: "//x", want: "/x"},
		{name: "double slashes inside", cwd: "/", arg: "x//y///z", want: "/x/y/z"},
		{name: "trailing slash removed", cwd: "/", arg: "x/", want: "/x"},
		{name: "dots inside", cwd: "/a", arg: "b/./c/../d/.", want: "/a/b/d"},
		{name: "backslashes are ordinary", cwd: "/a", arg: `..\..\etc`, want: `/a/..\..\etc`},
		{name: "backslash dot dot is a name", cwd: "/a", arg: `\..`, want: `/a/\..`},
		{name: "percent is not decoded", cwd: "/a", arg: "%2e%2e/%2e%2e/x", want: "/a/%2e%2e/%2e%2e/x"},
		{name: "three dots are a name", cwd: "/", arg: "...", want: "/..."},
		{name: "spaces kept", cwd: "/", arg: " lead/trail ", want: "/ lead/trail "},
		{name: "utf-8", cwd: "/", arg: "résumé/文件.txt", want: "/résumé/文件.txt"},
		{name: "quotes and semicolons", cwd: "/", arg: `a"b;c=d`, want: `/a"b;c=d`},
		{name: "relative cwd is still confined", cwd: "a", arg: "../../x", want: "/x"},
		{name: "empty cwd is the root", cwd: "", arg: "x", want: "/x"},
		{name: "component of 255 bytes", cwd: "/", arg: name255, want: "/" + name255},
		{name: "result of 4096 bytes", cwd: deep, arg: "", want: deep},

		{name: "NUL", cwd: "/", arg: "a\x00b", wantError: true},
		{name: "C1 control (NEL)", cwd: "/", arg: "a\u0085b", wantError: true},
		{name: "C1 control (CSI)", cwd: "/", arg: "\u009b31m", wantError: true},
		{name: "right-to-left override", cwd: "/", arg: "invoice\u202etxt.exe", wantError: true},
		{name: "left-to-right embedding", cwd: "/", arg: "a\u202ab", wantError: true},
		{name: "first strong isolate", cwd: "/", arg: "a\u2068b", wantError: true},
		{name: "pop directional isolate", cwd: "/", arg: "a\u2069b", wantError: true},
		{name: "zero-width joiner is a name", cwd: "/", arg: "a\u200db", want: "/a\u200db"},
		{name: "LF", cwd: "/", arg: "a\nb", wantError: true},
		{name: "CR", cwd: "/", arg: "a\r", wantError: true},
		{name: "tab", cwd: "/", arg: "a\tb", wantError: true},
		{name: "unit separator", cwd: "/", arg: "a\x1fb", wantError: true},
		{name: "DEL", cwd: "/", arg: "a\x7fb", wantError: true},
		{name: "invalid byte", cwd: "/", arg: "a\xffb", wantError: true},
		{name: "truncated sequence", cwd: "/", arg: "\xc3", wantError: true},
		{name: "overlong slash", cwd: "/", arg: "\xc0\xaf..", wantError: true},
		{name: "surrogate", cwd: "/", arg: "\xed\xa0\x80", wantError: true},
		{name: "component of 256 bytes", cwd: "/", arg: name256, wantError: true},
		{name: "long component in the middle", cwd: "/", arg: "a/" + name256 + "/b", wantError: true},
		// Checked as sent, even where ".." would remove it.
		{name: "long component undone by dot dot", cwd: "/", arg: name256 + "/..", wantError: true},
		{name: "result over 4096 bytes", cwd: deep, arg: "b", wantError: true},
		{name: "argument over 4096 bytes", cwd: "/", arg: strings.Repeat("a/../", 820), wantError: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolvePath(tc.cwd, tc.arg)
			if tc.wantError {
				var se *storage.Error
				if !errors.Is(err, storage.ErrInvalidName) || !errors.As(err, &se) || se.Op != "resolve" || se.Path != tc.arg {
					t.Fatalf("resolvePath(%q, %q) = %q, %v; want a resolve ErrInvalidName", short(tc.cwd), short(tc.arg), short(got), err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("resolvePath(%q, %q) = %q, %v; want %q", short(tc.cwd), short(tc.arg), short(got), err, short(tc.want))
			}
		})
	}
}

// short abbreviates long strings in failure messages.
func short(s string) string {
	if len(s) <= 80 {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:40], len(s))
}

func TestQuotePath(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"root", "/", `"/"`},
		{"plain", "/a/b c", `"/a/b c"`},
		{"one quote", `/say "hi"`, `"/say ""hi"""`},
		{"only quotes", `/""`, `"/"""""`},
		{"utf-8", "/文件", `"/文件"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := quotePath(tc.in); got != tc.want {
				t.Errorf("quotePath(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// validArg is resolvePath's refusal rule restated on the argument alone.
func validArg(arg string) bool {
	if len(arg) > maxPathLen || !utf8.ValidString(arg) {
		return false
	}
	for _, r := range arg {
		// C0 controls, DEL, C1 controls, and the bidirectional
		// embeddings, overrides and isolates: names that could forge or
		// disguise a reply or a listing line.
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return false
		}
	}
	for _, part := range strings.Split(arg, "/") {
		if len(part) > maxNameLen {
			return false
		}
	}
	return true
}

// FuzzResolvePath compares resolvePath with path.Join and checks that
// results are clean, confined and stable under resolving again.
func FuzzResolvePath(f *testing.F) {
	for _, arg := range []string{
		"", ".", "..", "../..", "//x", "/../x", `..\..\etc`, "%2e%2e/%2e%2e", "a/../../b",
		"a\x00b", "\xff", "\xc0\xaf", "./././", " x ", strings.Repeat("n", 256), strings.Repeat("n", 256) + "/..",
		"..\\..\\etc\\passwd", "./.././../c/./",
	} {
		f.Add("/", arg)
		f.Add("a/b", arg)
	}
	f.Fuzz(func(t *testing.T, cwdArg, arg string) {
		cwd, err := resolvePath("/", cwdArg)
		if err != nil {
			cwd = "/"
		}
		got, err := resolvePath(cwd, arg)

		// What it should be, by the standard library's rules.
		want := path.Join(cwd, arg)
		if strings.HasPrefix(arg, "/") {
			want = path.Clean(arg)
		}
		if wantOK := validArg(arg) && len(want) <= maxPathLen; wantOK != (err == nil) {
			t.Fatalf("resolvePath(%q, %q) = %q, %v; valid: %v", cwd, arg, got, err, wantOK)
		}
		if err != nil {
			if !errors.Is(err, storage.ErrInvalidName) {
				t.Fatalf("resolvePath(%q, %q) error %v is not ErrInvalidName", cwd, arg, err)
			}
			return
		}
		if got != want {
			t.Fatalf("resolvePath(%q, %q) = %q, want %q", cwd, arg, got, want)
		}
		if !strings.HasPrefix(got, "/") || path.Clean(got) != got || strings.ContainsRune(got, 0) {
			t.Fatalf("resolvePath(%q, %q) = %q: not clean and absolute", cwd, arg, got)
		}
		for _, part := range strings.Split(got, "/") {
			if part == ".." || len(part) > maxNameLen {
				t.Fatalf("resolvePath(%q, %q) = %q has component %q", cwd, arg, got, part)
			}
		}
		// A relative path without ".." stays below cwd.
		if !strings.HasPrefix(arg, "/") && !strings.Contains(arg, "..") &&
			cwd != "/" && got != cwd && !strings.HasPrefix(got, cwd+"/") {
			t.Fatalf("resolvePath(%q, %q) = %q left cwd", cwd, arg, got)
		}
		// Resolving a result again, from anywhere, changes nothing.
		for _, from := range []string{"/", cwd, got} {
			if again, err := resolvePath(from, got); err != nil || again != got {
				t.Fatalf("resolvePath(%q, %q) = %q, %v; want it unchanged", from, got, again, err)
			}
		}
		if again, err := resolvePath(got, ""); err != nil || again != got {
			t.Fatalf("resolvePath(%q, \"\") = %q, %v", got, again, err)
		}
	})
}
