package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
)

// localRig is a server on a local directory and what it emitted.
type localRig struct {
	addr  string
	srv   *ftpserver.Server
	store *localstore.Store
	log   *eventLog
}

// startLocalResume serves a local directory (file:// storage) with users
// u and v (password "pw", both at home /in), computing SHA-256 of uploads.
func startLocalResume(t *testing.T, dir string) localRig {
	t.Helper()
	store, err := localstore.New(localstore.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store, Logger: slog.New(slog.DiscardHandler)})
	if err := us.SetUsers([]auth.User{{Name: "u", PasswordHash: h, Home: "/in"}, {Name: "v", PasswordHash: h, Home: "/in"}}); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	addr, srv := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, Events: log, Checksums: []string{storage.SHA256},
		StallTimeout: rcStall, LoginFailDelay: time.Millisecond})
	return localRig{addr: addr, srv: srv, store: store, log: log}
}

// inFlight is the size of the largest upload being written in dir's
// temporary directory.
func inFlight(dir string) int64 {
	ents, _ := os.ReadDir(filepath.Join(dir, ".bucketftp-tmp"))
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n = max(n, fi.Size())
		}
	}
	return n
}

// TestResumeLocalAfterClientKilled: on a local directory, a curl -T upload
// killed (SIGKILL) in the middle of the file keeps every byte the server
// had written, for its owner only, across a restart of the server and its
// store; curl -C - -T then sends only the rest, and the file is whole.
func TestResumeLocalAfterClientKilled(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	dir := t.TempDir()
	first := startLocalResume(t, dir)
	addr := first.addr
	src, data := rcSource(t, t.TempDir())
	const sent = 9 << 20
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// curl uploads from a pipe that holds 9 MiB and stays open, and is
	// killed once the server has written all of it.
	killed := exec.CommandContext(ctx, "curl", "-sS", "--ftp-pasv", "-T", "-", "ftp://u:pw@"+addr+"/k.bin")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	killed.Stdin = pr
	go func() { _, _ = pw.Write(data[:sent]) }()
	killWhen(t, killed, "the server has written what curl sent", func() bool {
		return inFlight(dir) >= sent
	})
	pr.Close()
	pw.Close()

	u := loginAs(t, addr, "u")
	waitFor(t, "the killed upload kept", func() bool {
		_, n := sizeOf(t, u, "k.bin")
		return n >= 0
	})
	if _, n := sizeOf(t, u, "k.bin"); n != sent {
		t.Fatalf("SIZE after the kill: %d, want the %d bytes written", n, sent)
	}
	if code, _ := sizeOf(t, loginAs(t, addr, "v"), "k.bin"); code != 550 {
		t.Errorf("SIZE by another user: %d, want 550", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "in", "k.bin")); err == nil {
		t.Fatal("the interrupted upload is at its path")
	}

	// One upload.failed event, with the bytes kept.
	waitFor(t, "the upload.failed event", func() bool { return len(first.log.of(ftpserver.EventUploadFailed)) > 0 })
	if ev := first.log.of(ftpserver.EventUploadFailed); len(ev) != 1 || ev[0].Kept != sent || len(first.log.of(ftpserver.EventUploadCompleted)) != 0 {
		t.Errorf("events of the killed upload: %+v, want one upload.failed keeping %d bytes", ev, sent)
	}

	// The server and its store stop; new ones on the same directory go on.
	first.srv.Close()
	first.store.Close()
	second := startLocalResume(t, dir)
	addr = second.addr
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--ftp-pasv", "-C", "-", "-T", src, "-w", "%{size_upload}", "ftp://u:pw@"+addr+"/k.bin").CombinedOutput()
	if err != nil {
		t.Fatalf("curl -C -: %v\n%s", err, out)
	}
	if n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); n != int64(len(data))-sent {
		t.Errorf("curl's resume sent %q bytes, want only the missing %d", out, len(data)-sent)
	}
	got, err := os.ReadFile(filepath.Join(dir, "in", "k.bin"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the resumed file: %d bytes (%v), want the source's %d", len(got), err, len(data))
	}
	// The continuation is the one upload.completed event, with the whole
	// file's size and SHA-256 (the kept bytes read back).
	want := sha256.Sum256(data)
	if ev := second.log.of(ftpserver.EventUploadCompleted); len(ev) != 1 || ev[0].Size != int64(len(data)) || ev[0].Checksums["sha256"] != hex.EncodeToString(want[:]) {
		t.Errorf("upload.completed events of the resume: %+v, want one of %d bytes, sha256 %x", ev, len(data), want)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, ".bucketftp-tmp", "resume")); len(left) > 0 {
		for _, d := range left {
			if ents, _ := os.ReadDir(filepath.Join(dir, ".bucketftp-tmp", "resume", d.Name())); len(ents) > 0 {
				t.Errorf("left aside after the resume: %s/%d files", d.Name(), len(ents))
			}
		}
	}
}

// TestResumeLocalAfterLftpKilled: lftp's put killed in the middle of the
// file on a local directory, then lftp put -c: it restarts at the length
// SIZE reports (REST), and the file is whole.
func TestResumeLocalAfterLftpKilled(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("lftp"); err != nil {
		t.Skip("lftp not installed")
	}
	root := t.TempDir()
	addr := startLocalResume(t, root).addr
	dir := t.TempDir()
	src, data := rcSource(t, dir)
	lftpPut := func(ctx context.Context, settings, put string) *exec.Cmd {
		return lftpPutCmd(ctx, dir, addr, settings, put, src)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Uploads at 3 MiB/s (net:limit-rate is download:upload), killed once
	// 6 MiB are written.
	killWhen(t, lftpPut(ctx, "set net:limit-rate 0:3M;", "put"), "6 MiB written", func() bool {
		return inFlight(root) >= 6<<20
	})
	u := loginAs(t, addr, "u")
	var kept int64
	waitFor(t, "the killed upload kept", func() bool {
		_, kept = sizeOf(t, u, "l.bin")
		return kept >= 0
	})
	if kept < 6<<20 || kept >= int64(len(data)) {
		t.Fatalf("SIZE after the kill: %d, want at least the 6 MiB written and less than the file", kept)
	}

	out, err := lftpPut(ctx, "debug 5;", "put -c").CombinedOutput()
	if err != nil {
		t.Fatalf("lftp put -c: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "REST "+strconv.FormatInt(kept, 10)) {
		t.Errorf("lftp put -c did not restart at %d:\n%s", kept, out)
	}
	got, err := os.ReadFile(filepath.Join(root, "in", "l.bin"))
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the resumed file: %d bytes (%v), want the source's %d", len(got), err, len(data))
	}
}
