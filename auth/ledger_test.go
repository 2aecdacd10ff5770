package auth

import (
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// replicas returns n stores on one backend sharing one ledger area, as n
// server processes on one bucket are.
func replicas(t *testing.T, n int, docs *memstore.Docs, users ...User) ([]*Store, *memstore.Store) {
	t.Helper()
	b := memstore.New()
	var out []*Store
	for i := range n {
		s := NewStore(StoreConfig{Backend: b, Shared: docs, Replica: string(rune('a' + i))})
		if err := s.SetUsers(users); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out, b
}

func usageDocOf(t *testing.T, docs *memstore.Docs, user string) usageDoc {
	t.Helper()
	b, _, err := docs.ReadDoc(t.Context(), "quota/"+user+".json")
	if err != nil {
		t.Fatal(err)
	}
	var d usageDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Two uploads of one user through two processes, both under way at once:
// together they would exceed the quota, so exactly one is refused, and
// both processes agree on the usage afterwards.
func TestSharedQuotaAcrossProcesses(t *testing.T) {
	t.Parallel()
	docs := memstore.NewDocs(true)
	stores, b := replicas(t, 2, docs, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	a1, a2 := login(t, stores[0], "q"), login(t, stores[1], "q")
	ctx := t.Context()
	remaining(t, a1)
	remaining(t, a2)
	errs := parallelPuts(ctx, []storage.Backend{a1.FS, a2.FS}, []string{"/one", "/two"}, 60)
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("upload errors %v and %v; want exactly one to fail", errs[0], errs[1])
	}
	for i, name := range []string{"/q/one", "/q/two"} {
		if errs[i] != nil {
			if !errors.Is(errs[i], storage.ErrQuota) {
				t.Fatalf("%s: %v", name, errs[i])
			}
			wantSize(t, b, name, -1)
		} else {
			wantSize(t, b, name, 60)
		}
	}
	d := usageDocOf(t, docs, "q")
	if d.Stored != 60 || len(d.Holds) != 0 {
		t.Fatalf("usage document %+v; want 60 stored and no holds", d)
	}
	// The other process sees the usage once its read is old enough.
	for _, s := range stores {
		s.usages["q"].shared.readAt = time.Time{}
	}
	if l1, l2 := remaining(t, a1), remaining(t, a2); l1 != 40 || l2 != 40 {
		t.Fatalf("left %d and %d; want 40 on both", l1, l2)
	}
	// A delete through one process frees the space for the other.
	winner := map[bool]int{true: 0, false: 1}[errs[0] == nil]
	fss := []storage.Backend{a1.FS, a2.FS}
	if err := fss[winner].Remove(ctx, []string{"/one", "/two"}[winner]); err != nil {
		t.Fatal(err)
	}
	if err := put(t, fss[1-winner], "/three", 100); err != nil {
		t.Fatalf("the whole quota after a delete through the other process: %v", err)
	}
	if err := put(t, fss[winner], "/four", 1); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("upload into a quota filled through the other process: %v", err)
	}
}

// A process that died leaves a hold; it keeps the space only until it
// lapses.
func TestSharedQuotaHoldLapses(t *testing.T) {
	t.Parallel()
	docs := memstore.NewDocs(true)
	stores, _ := replicas(t, 1, docs, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	a := login(t, stores[0], "q")
	remaining(t, a)
	now := time.Now()
	dead := usageDoc{Home: "/q", Stored: 10, Holds: map[string]hold{"dead": {Bytes: 80, Until: now.Add(time.Minute).Unix()}}}
	b, _ := json.Marshal(dead)
	if _, err := docs.PutDoc(t.Context(), "quota/q.json", b); err != nil {
		t.Fatal(err)
	}
	l := stores[0].usages["q"].shared
	l.readAt = time.Time{}
	if err := put(t, a.FS, "/x", 20); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("20 bytes with 10 stored and 80 held elsewhere: %v", err)
	}
	if err := put(t, a.FS, "/y", 10); err != nil {
		t.Fatalf("10 bytes with 10 stored and 80 held elsewhere: %v", err)
	}
	l.now = func() time.Time { return now.Add(2 * time.Minute) }
	if err := put(t, a.FS, "/z", 80); err != nil {
		t.Fatalf("after the dead process's hold lapsed: %v", err)
	}
	if d := usageDocOf(t, docs, "q"); d.Stored != 100 || len(d.Holds) != 0 {
		t.Fatalf("usage document %+v; want 100 stored and the lapsed hold gone", d)
	}
}

// A large upload writes the document about once per grant, not per read.
func TestSharedQuotaWritesPerGrant(t *testing.T) {
	t.Parallel()
	docs := memstore.NewDocs(true)
	stores, _ := replicas(t, 1, docs, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 1 << 30})
	a := login(t, stores[0], "q")
	remaining(t, a)
	before := docs.Writes
	const size = 40 << 20
	if _, err := a.FS.Put(t.Context(), "/big", io.LimitReader(zeros{}, size), -1); err != nil {
		t.Fatal(err)
	}
	if w := docs.Writes - before; w > size/holdGrant+2 {
		t.Fatalf("%d document writes for a %d MiB upload; want at most %d", w, size>>20, size/holdGrant+2)
	}
	if d := usageDocOf(t, docs, "q"); d.Stored != size {
		t.Fatalf("stored %d, want %d", d.Stored, size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Without conditional writes each process counts on its own.
func TestSharedQuotaWithoutConditionalWrites(t *testing.T) {
	t.Parallel()
	docs := memstore.NewDocs(false)
	stores, b := replicas(t, 1, docs, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	a := login(t, stores[0], "q")
	if err := put(t, a.FS, "/a", 60); err != nil {
		t.Fatal(err)
	}
	if err := put(t, a.FS, "/b", 60); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("over quota: %v", err)
	}
	wantSize(t, b, "/q/b", -1)
	if left := remaining(t, a); left != 40 {
		t.Fatalf("%d left, want 40", left)
	}
}
