package ftptest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// ---------------------------------------------------------------------------
// Path traversal

// The traversal test plants sentinels outside alice's home (/alice), and
// decoys with the same names inside it, so a reply tells which one a
// command reached.
var (
	sentinel     = "SENTINEL outside the home" + strings.Repeat(".", 4242-len("SENTINEL outside the home"))
	sentinelTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	// leakRE matches what only the sentinels can show: their name, content,
	// size or time.
	leakRE = regexp.MustCompile(`outside-only|SENTINEL|\b4242\b|20010203040506`)
)

const (
	decoy  = "decoy"
	mine   = "mine"
	upload = "EVIL-UPLOAD"
)

var outsideDirs = []string{"/other", "/empty"}
var outsideFiles = []string{"/other/secret", "/other/outside-only", "/secret", "/outside-only"}

// trav drives one traversal subtest: alice's session, in working
// directory cwd, against a backend holding the sentinels.
type trav struct {
	t   *testing.T
	e   *env
	c   *ctl
	cwd string
}

func (tr *trav) home(p string) string { return path.Join("/alice", p) }

func (tr *trav) stat(p string) (storage.Entry, bool) {
	en, err := tr.e.backend.Stat(tr.t.Context(), tr.home(p))
	// A store that refuses a name (S3 and backslashes) has nothing there.
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrInvalidName) {
		tr.t.Fatalf("stat %s: %v", tr.home(p), err)
	}
	return en, err == nil
}

func (tr *trav) isFile(p string) bool { en, ok := tr.stat(p); return ok && !en.IsDir }
func (tr *trav) isDir(p string) bool  { en, ok := tr.stat(p); return ok && en.IsDir }

func (tr *trav) content(p string) string {
	s, err := tr.e.stored(tr.home(p))
	if err != nil {
		tr.t.Fatalf("reading %s: %v", tr.home(p), err)
	}
	return s
}

// noLeak fails when a reply or listing shows a sentinel.
func (tr *trav) noLeak(line, got string) {
	tr.t.Helper()
	if m := leakRE.FindString(got); m != "" {
		tr.t.Fatalf("%q leaked %q from outside the home:\n%s", line, m, got)
	}
}

// refused reports whether code refuses the command: 550, or 553 (which S3
// gives for some odd names that a disk takes). A name that cannot be valid
// (want "") must get 553.
func (tr *trav) refused(line, want string, code int, text string) bool {
	tr.t.Helper()
	if want == "" {
		if code != 553 {
			tr.t.Fatalf("%q: got %d %q, want 553 for a name with a control character or invalid UTF-8", line, code, text)
		}
		return true
	}
	return code == 550 || code == 553
}

// fail reports an unexpected reply.
func (tr *trav) fail(line, want string, code int, text, why string) {
	tr.t.Helper()
	tr.t.Fatalf("%q (in %s, resolving to %s in the home): got %d %q; %s", line, tr.cwd, want, code, text, why)
}

// download runs a command that sends data: whether it ran (false for a
// refusal before 150) and the data.
func (tr *trav) download(line, want string) (bool, string) {
	tr.t.Helper()
	d := tr.c.pasv()
	defer d.Close()
	tr.c.send(line)
	code, text := tr.c.reply()
	tr.noLeak(line, text)
	if code != 150 && code != 125 {
		if !tr.refused(line, want, code, text) {
			tr.fail(line, want, code, text, "want 150 or a refusal")
		}
		return false, ""
	}
	_ = d.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(d)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.c.expect(226)
	tr.noLeak(line, string(b))
	return true, string(b)
}

// uploadCmd runs a command that receives data, sending upload: whether it
// ran (false for a refusal before 150) and the 1xx text.
func (tr *trav) uploadCmd(line, want string) (bool, string) {
	tr.t.Helper()
	d := tr.c.pasv()
	defer d.Close()
	tr.c.send(line)
	code, text := tr.c.reply()
	tr.noLeak(line, text)
	if code != 150 && code != 125 {
		if !tr.refused(line, want, code, text) {
			tr.fail(line, want, code, text, "want 150 or a refusal")
		}
		return false, ""
	}
	_ = d.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(d, upload); err != nil {
		tr.t.Fatal(err)
	}
	d.Close()
	code, final := tr.c.reply()
	tr.noLeak(line, final)
	if code != 226 {
		tr.fail(line, want, code, final, "want 226 after 150")
	}
	return true, text
}

// ctlCmd runs a command answered on the control connection; ok reports a
// reply that is not a refusal.
func (tr *trav) ctlCmd(line, want string) (ok bool, code int, text string) {
	tr.t.Helper()
	code, text = tr.c.cmd(line)
	tr.noLeak(line, text)
	if tr.refused(line, want, code, text) {
		return false, code, text
	}
	return true, code, text
}

// travVerb runs one path verb with arg (resolving to want in the home, ""
// when it must be refused) and checks what a success did.
type travVerb struct {
	name    string
	mutates bool // a success changes the home, which is then reset
	run     func(tr *trav, arg, want string) bool
	args    []string // instead of traversalArgs, for a verb that ignores them
}

func chdirVerb(verb string) travVerb {
	return travVerb{name: verb, run: func(tr *trav, arg, want string) bool {
		line := verb + " " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if code != 250 || !tr.isDir(want) {
			tr.fail(line, want, code, text, "want 250 for a directory in the home, else a refusal")
		}
		if pwd := tr.c.must("PWD", 257); !strings.HasPrefix(pwd, quoteFTP(want)+" ") {
			tr.fail(line, want, code, text, "then PWD said "+pwd)
		}
		return true
	}}
}

func quoteFTP(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func listVerb(verb string) travVerb {
	return travVerb{name: verb, run: func(tr *trav, arg, want string) bool {
		line := verb + " " + arg
		ok, data := tr.download(line, want)
		if !ok {
			return false
		}
		if !tr.isDir(want) && (verb == "MLSD" || !tr.isFile(want)) {
			tr.fail(line, want, 150, data, "listed something that is not in the home")
		}
		return true
	}}
}

// removeVerb is DELE, RMD and XRMD: a success removed want from the home,
// never the home itself.
func removeVerb(verb string) travVerb {
	return travVerb{name: verb, mutates: true, run: func(tr *trav, arg, want string) bool {
		line := verb + " " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if code != 250 || want == "/" || tr.isFile(want) || tr.isDir(want) {
			tr.fail(line, want, code, text, "want 250 having removed it from the home, else a refusal")
		}
		return true
	}}
}

func mkdirVerb(verb string) travVerb {
	return travVerb{name: verb, mutates: true, run: func(tr *trav, arg, want string) bool {
		line := verb + " " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if code != 257 || !strings.HasPrefix(text, quoteFTP(want)+" created") || !tr.isDir(want) {
			tr.fail(line, want, code, text, "want 257 having made it in the home, else a refusal")
		}
		return true
	}}
}

func storeVerb(verb string) travVerb {
	return travVerb{name: verb, mutates: true, run: func(tr *trav, arg, want string) bool {
		line := verb + " " + arg
		before := ""
		if verb == "APPE" && tr.isFile(want) {
			before = tr.content(want)
		}
		ok, _ := tr.uploadCmd(line, want)
		if !ok {
			return false
		}
		if !tr.isFile(want) || tr.content(want) != before+upload {
			tr.fail(line, want, 226, "", "the upload did not land where the name resolves in the home")
		}
		return true
	}}
}

var traversalVerbs = []travVerb{
	chdirVerb("CWD"),
	chdirVerb("XCWD"),
	{name: "RETR", run: func(tr *trav, arg, want string) bool {
		line := "RETR " + arg
		ok, data := tr.download(line, want)
		if !ok {
			return false
		}
		if !tr.isFile(want) || data != tr.content(want) {
			tr.fail(line, want, 150, data, "sent something other than the file in the home")
		}
		return true
	}},
	storeVerb("STOR"),
	storeVerb("APPE"),
	// STOU takes no path: an argument is ignored, and the file is made in
	// the working directory.
	{name: "STOU", mutates: true, run: func(tr *trav, arg, want string) bool {
		line := "STOU " + arg
		ok, text := tr.uploadCmd(line, "/")
		if !ok {
			return false
		}
		name, found := strings.CutPrefix(text, "FILE: ")
		if p := path.Join(tr.cwd, name); !found || !tr.isFile(p) || tr.content(p) != upload {
			tr.fail(line, want, 150, text, "the unique file is not in the working directory")
		}
		return true
	}, args: []string{"../../other/secret", "/../newname", "..\x00/other"}},
	removeVerb("DELE"),
	removeVerb("RMD"),
	removeVerb("XRMD"),
	mkdirVerb("MKD"),
	mkdirVerb("XMKD"),
	// RNFR of the name, then RNTO a fresh name: what moved is what was in
	// the home.
	{name: "RNFR", mutates: true, run: func(tr *trav, arg, want string) bool {
		line := "RNFR " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		en, exists := tr.stat(want)
		if code != 350 || !exists || want == "/" {
			tr.fail(line, want, code, text, "want 350 for a name in the home, else a refusal")
		}
		before := ""
		if !en.IsDir {
			before = tr.content(want)
		}
		tr.c.must("RNTO /stolen", 250)
		moved, ok := tr.stat("/stolen")
		if !ok || moved.IsDir != en.IsDir || (!en.IsDir && tr.content("/stolen") != before) {
			tr.fail(line, want, code, text, "then RNTO /stolen moved something else")
		}
		return true
	}},
	// RNFR of a file in the home, then RNTO the name.
	{name: "RNTO", mutates: true, run: func(tr *trav, arg, want string) bool {
		tr.c.must("RNFR /mine", 350)
		line := "RNTO " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if code != 250 || want == "/" || !tr.isFile(want) || tr.content(want) != mine {
			tr.fail(line, want, code, text, "want 250 having moved /mine there in the home, else a refusal")
		}
		return true
	}},
	listVerb("LIST"),
	listVerb("NLST"),
	listVerb("MLSD"),
	{name: "MLST", run: func(tr *trav, arg, want string) bool {
		line := "MLST " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if _, exists := tr.stat(want); code != 250 || !exists || !strings.HasPrefix(text, "Listing "+want+"\n") {
			tr.fail(line, want, code, text, "want 250 for a name in the home, else a refusal")
		}
		return true
	}},
	{name: "SIZE", run: func(tr *trav, arg, want string) bool {
		line := "SIZE " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if code != 213 || !tr.isFile(want) || text != strconv.Itoa(len(tr.content(want))) {
			tr.fail(line, want, code, text, "want 213 with the size of the file in the home, else a refusal")
		}
		return true
	}},
	{name: "MDTM", run: func(tr *trav, arg, want string) bool {
		line := "MDTM " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if en, _ := tr.stat(want); code != 213 || !tr.isFile(want) || text != en.ModTime.UTC().Format("20060102150405") {
			tr.fail(line, want, code, text, "want 213 with the time of the file in the home, else a refusal")
		}
		return true
	}},
	{name: "MFMT", mutates: true, run: func(tr *trav, arg, want string) bool {
		line := "MFMT 20111111111111 " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		set := time.Date(2011, 11, 11, 11, 11, 11, 0, time.UTC)
		if en, _ := tr.stat(want); code != 213 || !tr.isFile(want) || !en.ModTime.Equal(set) {
			tr.fail(line, want, code, text, "want 213 having set the time of the file in the home, else a refusal")
		}
		return true
	}},
	{name: "STAT", run: func(tr *trav, arg, want string) bool {
		line := "STAT " + arg
		ok, code, text := tr.ctlCmd(line, want)
		if !ok {
			return false
		}
		if _, exists := tr.stat(want); (code != 212 && code != 213) || !exists || !strings.HasPrefix(text, "Status of "+want+":\n") {
			tr.fail(line, want, code, text, "want 212 or 213 for a name in the home, else a refusal")
		}
		return true
	}},
	// SITE CHMOD changes nothing on any name (modes are not stored).
	{name: "SITE CHMOD", run: func(tr *trav, arg, want string) bool {
		line := "SITE CHMOD 777 " + arg
		code, text := tr.c.cmd(line)
		tr.noLeak(line, text)
		if code != 202 {
			tr.fail(line, want, code, text, "want 202")
		}
		return true
	}},
}

// traversalArgs are the names tried with every verb: ways out of the home
// (each resolves inside it, or is refused), joined to names that exist
// both outside the home (sentinels) and inside it (decoys).
func traversalArgs(relativeOnly bool) []string {
	prefixes := []string{
		"../", "../../", "/../../../../", "x/../../", "..//", "/alice/../",
		`..\..\`, `\..\`, "%2e%2e/", "..%2f", "%252e%252e/", "....//", "..\x00/", "\xc0\xae\xc0\xae/",
	}
	targets := []string{"other/secret", "other", "empty", "newname"}
	var args []string
	for _, a := range []string{"/", "..", "../..", "/..", "../secret", "/../secret", "\x00", "..\x00", "other\x00/../../secret", "../../other/secret\x00.txt"} {
		if !relativeOnly || !strings.HasPrefix(a, "/") {
			args = append(args, a)
		}
	}
	for _, p := range prefixes {
		if relativeOnly && strings.HasPrefix(p, "/") {
			continue
		}
		for _, t := range targets {
			args = append(args, p+t)
		}
	}
	return args
}

// wantPath is where arg sent in cwd must resolve in the home (clean,
// absolute, never above "/"), or "" when it must be refused.
func wantPath(cwd, arg string) string {
	if !storage.Printable(arg) {
		return ""
	}
	if !strings.HasPrefix(arg, "/") {
		arg = cwd + "/" + arg
	}
	return path.Clean("/" + arg)
}

// snapshot records, for every entry of b outside skip, what a client could
// notice of it: kind, size, time and content.
func snapshot(t *testing.T, b storage.Backend, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		var entries []storage.Entry
		for en, err := range b.List(t.Context(), dir) {
			if err != nil {
				t.Fatalf("listing %s: %v", dir, err)
			}
			entries = append(entries, en)
		}
		for _, en := range entries {
			p := path.Join(dir, en.Name)
			if p == skip || strings.HasPrefix(p, skip+"/") {
				continue
			}
			if en.IsDir {
				out[p] = "dir"
				walk(p)
				continue
			}
			rc, err := b.Open(t.Context(), p, 0)
			if err != nil {
				t.Fatalf("opening %s: %v", p, err)
			}
			h := sha256.New()
			_, err = io.Copy(h, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("reading %s: %v", p, err)
			}
			out[p] = fmt.Sprintf("file size=%d time=%d sha256=%x", en.Size, en.ModTime.Unix(), h.Sum(nil))
		}
	}
	walk("/")
	return out
}

func diffSnapshots(before, after map[string]string) string {
	var d []string
	for p, v := range before {
		if w, ok := after[p]; !ok {
			d = append(d, "removed "+p)
		} else if w != v {
			d = append(d, fmt.Sprintf("changed %s: %s -> %s", p, v, w))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, "created "+p)
		}
	}
	slices.Sort(d)
	return strings.Join(d, "\n")
}

// homeDecoys is alice's home as resetHome leaves it: directories ("") and
// files with their content.
var homeDecoys = map[string]string{
	"/alice/other": "", "/alice/empty": "",
	"/alice/other/secret": decoy, "/alice/secret": decoy, "/alice/mine": mine,
}

// resetHome brings alice's home back to homeDecoys, touching only what
// differs (a disk store syncs every file it writes).
func resetHome(t *testing.T, e *env) {
	t.Helper()
	ctx := t.Context()
	en, err := e.backend.Stat(ctx, "/alice")
	if err != nil || !en.IsDir {
		t.Fatalf("alice's home is gone: %v", err)
	}
	var all []storage.Entry // pre-order, Name holding the full path
	var walk func(dir string)
	walk = func(dir string) {
		var entries []storage.Entry
		for en, err := range e.backend.List(ctx, dir) {
			if err != nil {
				t.Fatalf("listing %s: %v", dir, err)
			}
			entries = append(entries, en)
		}
		for _, en := range entries {
			en.Name = path.Join(dir, en.Name)
			all = append(all, en)
			if en.IsDir {
				walk(en.Name)
			}
		}
	}
	walk("/alice")
	ee := *e
	ee.t = t
	good := map[string]bool{}
	for _, en := range all {
		want, ok := homeDecoys[en.Name]
		switch {
		case ok && en.IsDir && want == "":
			good[en.Name] = true
		case ok && !en.IsDir && want != "":
			// What the commands write never has a decoy's size.
			good[en.Name] = en.Size == int64(len(want))
		}
	}
	for _, en := range slices.Backward(all) {
		if good[en.Name] {
			continue
		}
		rm := e.backend.Remove
		if en.IsDir {
			rm = e.backend.Rmdir
		}
		if err := rm(ctx, en.Name); err != nil {
			t.Fatalf("cleaning %s: %v", en.Name, err)
		}
	}
	names := slices.Sorted(maps.Keys(homeDecoys)) // parents first
	for _, p := range names {
		if good[p] {
			continue
		}
		if homeDecoys[p] == "" {
			if err := e.backend.Mkdir(ctx, p); err != nil {
				t.Fatal(err)
			}
		} else {
			ee.put(p, homeDecoys[p])
		}
	}
}

// testPathTraversal: every verb that takes a path, with every way out of
// the home we know of (dot-dot, absolute dot-dot, backslashes, percent
// encoding, doubled slashes, a detour through the home's own name, NUL,
// invalid UTF-8), from the home and from a subdirectory. Each reply is a
// refusal (550, 553; 553 for control characters) or a success whose effect
// is checked where the name resolves inside the home (decoys named like
// the sentinels make the two tell apart). No reply or data shows a
// sentinel's name, content, size or time, and after each verb the tree
// outside the home is exactly as it was. It fails if resolvePath or the
// scoped store let a ".." (or anything decoded as one) climb out of the
// home, if a verb skipped resolvePath, or if a control character got
// through to the backend.
func testPathTraversal(t *testing.T, nb newBackend) {
	t.Parallel()
	for _, v := range traversalVerbs {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			e := startServer(t, nb(t))
			ctx := t.Context()
			for _, d := range outsideDirs {
				if err := e.backend.Mkdir(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			setter, canSetTime := e.backend.(storage.ModTimeSetter)
			for _, f := range outsideFiles {
				e.put(f, sentinel)
				if canSetTime {
					if err := setter.SetModTime(ctx, f, sentinelTime); err != nil {
						t.Fatal(err)
					}
				}
			}
			resetHome(t, e)
			before := snapshot(t, e.backend, "/alice")
			c := e.login("alice")
			c.must("TYPE I", 200) // SIZE answers in binary mode only
			successes, tried := 0, 0
			// From a subdirectory, only relative names differ.
			for _, cwd := range []string{"/", "/other"} {
				tr := &trav{t: t, e: e, c: c, cwd: cwd}
				c.must("CWD "+cwd, 250)
				args := traversalArgs(cwd != "/")
				if v.args != nil {
					args = v.args
				}
				for _, arg := range args {
					tried++
					if !v.run(tr, arg, wantPath(cwd, arg)) {
						continue
					}
					successes++
					if v.mutates {
						resetHome(t, e)
					}
					c.must("CWD "+cwd, 250)
				}
			}
			t.Logf("%d of %d commands succeeded inside the home", successes, tried)
			if successes == 0 {
				t.Fatalf("%s never succeeded: the test reached nothing in the home", v.name)
			}
			if d := diffSnapshots(before, snapshot(t, e.backend, "/alice")); d != "" {
				t.Fatalf("%s changed the storage outside the home:\n%s", v.name, d)
			}
		})
	}
}
