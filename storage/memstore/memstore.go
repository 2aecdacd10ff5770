// Package memstore keeps files in memory: for tests, demos and the mem://
// storage URL. Directories are explicit, as on a local disk.
package memstore

import (
	"bytes"
	"context"
	"io"
	"iter"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

type node struct {
	dir   bool
	data  []byte
	mtime time.Time
}

// Store is an in-memory storage.Backend. It is safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	nodes map[string]*node // by clean absolute name; "/" always present
}

var (
	_ storage.Backend       = (*Store)(nil)
	_ storage.Appender      = (*Store)(nil)
	_ storage.ModTimeSetter = (*Store)(nil)
	_ storage.PrefixLister  = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{nodes: map[string]*node{"/": {dir: true, mtime: time.Now()}}}
}

func entry(name string, n *node) storage.Entry {
	base := path.Base(name)
	return storage.Entry{Name: base, Size: int64(len(n.data)), ModTime: n.mtime, IsDir: n.dir}
}

func (s *Store) Stat(ctx context.Context, name string) (storage.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.nodes[name]
	if !ok {
		return storage.Entry{}, storage.E("stat", name, storage.ErrNotFound, nil)
	}
	return entry(name, n), nil
}

// children are the names of dir's entries whose names start with prefix,
// sorted.
func (s *Store) children(dir, prefix string) []string {
	pfx := dir + "/"
	if dir == "/" {
		pfx = "/"
	}
	var names []string
	for k := range s.nodes {
		if k != "/" && strings.HasPrefix(k, pfx) && !strings.Contains(k[len(pfx):], "/") && strings.HasPrefix(k[len(pfx):], prefix) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

func (s *Store) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return s.list(dir, "")
}

// ListPrefix is List without the entries whose names do not start with
// prefix; a missing directory is ErrNotFound, as for List.
func (s *Store) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	return s.list(dir, prefix)
}

func (s *Store) list(dir, prefix string) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		s.mu.RLock()
		n, ok := s.nodes[dir]
		if !ok || !n.dir {
			s.mu.RUnlock()
			yield(storage.Entry{}, storage.E("list", dir, storage.ErrNotFound, nil))
			return
		}
		names := s.children(dir, prefix)
		entries := make([]storage.Entry, 0, len(names))
		for _, k := range names {
			entries = append(entries, entry(k, s.nodes[k]))
		}
		s.mu.RUnlock()
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (s *Store) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.nodes[name]
	if !ok || n.dir {
		return nil, storage.E("open", name, storage.ErrNotFound, nil)
	}
	data := n.data // never modified in place: writes replace the slice
	off = min(max(off, 0), int64(len(data)))
	return io.NopCloser(bytes.NewReader(data[off:])), nil
}

// readAll reads r to EOF, stopping early when ctx is cancelled.
func readAll(ctx context.Context, prefix []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(prefix)
	chunk := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		if err == io.EOF {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (s *Store) checkParent(op, name string) error {
	p, ok := s.nodes[path.Dir(name)]
	if !ok || !p.dir {
		return storage.E(op, name, storage.ErrNotFound, nil)
	}
	return nil
}

func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	return s.write(ctx, "put", name, nil, r)
}

func (s *Store) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	var prefix []byte
	if off > 0 {
		s.mu.RLock()
		n, ok := s.nodes[name]
		s.mu.RUnlock()
		switch {
		case !ok || n.dir:
			return 0, storage.E("append", name, storage.ErrNotFound, nil)
		case off > int64(len(n.data)):
			return 0, storage.E("append", name, storage.ErrNotSupported, nil)
		}
		prefix = append([]byte(nil), n.data[:off]...)
	}
	n, err := s.write(ctx, "append", name, prefix, r)
	return n - off, err
}

func (s *Store) write(ctx context.Context, op, name string, prefix []byte, r io.Reader) (int64, error) {
	if name == "/" {
		return 0, storage.E(op, name, storage.ErrExist, nil)
	}
	s.mu.RLock()
	err := s.checkParent(op, name)
	if n, ok := s.nodes[name]; ok && n.dir {
		err = storage.E(op, name, storage.ErrExist, nil)
	}
	s.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	data, err := readAll(ctx, prefix, r)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkParent(op, name); err != nil {
		return 0, err
	}
	if n, ok := s.nodes[name]; ok && n.dir {
		return 0, storage.E(op, name, storage.ErrExist, nil)
	}
	s.nodes[name] = &node{data: data, mtime: time.Now()}
	return int64(len(data)), nil
}

func (s *Store) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[name]
	if !ok || n.dir {
		return storage.E("remove", name, storage.ErrNotFound, nil)
	}
	delete(s.nodes, name)
	return nil
}

func (s *Store) Mkdir(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.nodes[name]; ok {
		return storage.E("mkdir", name, storage.ErrExist, nil)
	}
	if err := s.checkParent("mkdir", name); err != nil {
		return err
	}
	s.nodes[name] = &node{dir: true, mtime: time.Now()}
	return nil
}

func (s *Store) Rmdir(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[name]
	switch {
	case name == "/":
		return storage.E("rmdir", name, storage.ErrPermission, nil)
	case !ok || !n.dir:
		return storage.E("rmdir", name, storage.ErrNotFound, nil)
	case len(s.children(name, "")) > 0:
		return storage.E("rmdir", name, storage.ErrNotEmpty, nil)
	}
	delete(s.nodes, name)
	return nil
}

func (s *Store) Rename(ctx context.Context, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[from]
	if !ok || from == "/" {
		return storage.E("rename", from, storage.ErrNotFound, nil)
	}
	if t, ok := s.nodes[to]; ok && t.dir {
		return storage.E("rename", to, storage.ErrExist, nil)
	}
	if err := s.checkParent("rename", to); err != nil {
		return err
	}
	if to == from || strings.HasPrefix(to, from+"/") {
		return storage.E("rename", to, storage.ErrInvalidName, nil)
	}
	if n.dir {
		for k, v := range s.nodes {
			if strings.HasPrefix(k, from+"/") {
				delete(s.nodes, k)
				s.nodes[to+k[len(from):]] = v
			}
		}
	}
	delete(s.nodes, from)
	s.nodes[to] = n
	return nil
}

func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[name]
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotFound, nil)
	}
	c := *n
	c.mtime = t
	s.nodes[name] = &c
	return nil
}
