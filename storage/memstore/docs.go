package memstore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Docs is a storage.SharedDocs in memory, for tests of what server
// processes share: several stores in one test share one Docs. Conditional
// set to false makes SwapDoc report ErrNotSupported, like a store without
// conditional writes.
type Docs struct {
	mu      sync.Mutex
	docs    map[string]doc
	seq     int
	noConds bool
	Writes  int // successful writes, for tests that count
}

type doc struct {
	b       []byte
	version string
	at      time.Time
}

var _ storage.SharedDocs = (*Docs)(nil)

// NewDocs returns an empty Docs; conditional is whether SwapDoc works.
func NewDocs(conditional bool) *Docs { return &Docs{docs: map[string]doc{}, noConds: !conditional} }

func (d *Docs) ReadDoc(ctx context.Context, name string) ([]byte, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.docs[name]
	if !ok {
		return nil, "", storage.E("readdoc", name, storage.ErrNotFound, nil)
	}
	return append([]byte(nil), x.b...), x.version, nil
}

func (d *Docs) SwapDoc(ctx context.Context, name string, b []byte, version string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noConds {
		return "", storage.E("swapdoc", name, storage.ErrNotSupported, nil)
	}
	x, ok := d.docs[name]
	if (version == "" && ok) || (version != "" && (!ok || x.version != version)) {
		return "", storage.E("swapdoc", name, storage.ErrConflict, nil)
	}
	return d.put(name, b), nil
}

func (d *Docs) PutDoc(ctx context.Context, name string, b []byte) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.put(name, b), nil
}

func (d *Docs) put(name string, b []byte) string {
	d.seq++
	d.Writes++
	v := strconv.Itoa(d.seq)
	d.docs[name] = doc{b: append([]byte(nil), b...), version: v, at: time.Now()}
	return v
}

func (d *Docs) ListDocs(ctx context.Context, dir string) ([]storage.DocInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []storage.DocInfo
	for name, x := range d.docs {
		if strings.HasPrefix(name, dir) {
			out = append(out, storage.DocInfo{Name: name, Version: x.version, ModTime: x.at})
		}
	}
	return out, nil
}

func (d *Docs) DeleteDoc(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.docs, name)
	return nil
}
