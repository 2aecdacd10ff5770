// Package mount puts several storages in one tree: a root backend, and
// other backends (or prefixes of them) mounted at paths in it, as virtual
// folders. Each name goes to the backend of its longest mount path; a
// listing of a mount point's parent shows the mount point as a directory;
// a rename from one backend to another is refused with ErrCrossDevice.
package mount

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Mount is one backend mounted at a path: its "/" is Path in the tree.
type Mount struct {
	Path    string // clean, absolute, not "/"
	Backend storage.Backend
}

// Router is a tree of a root backend and mounts. It is a storage.Backend
// and a storage.Wrapper of the root; its abilities are the root's (As
// looks under it there), and a call of one goes to the backend owning the
// name, which answers ErrNotSupported when it lacks the ability.
type Router struct {
	root   storage.Backend
	mounts []Mount // longest path first
}

var (
	_ storage.Backend       = (*Router)(nil)
	_ storage.Wrapper       = (*Router)(nil)
	_ storage.Appender      = (*Router)(nil)
	_ storage.ModTimeSetter = (*Router)(nil)
	_ storage.PrefixLister  = (*Router)(nil)
)

// New returns the tree of root with mounts. Mount paths must be clean and
// absolute, not "/", and distinct; a mount may sit inside another.
func New(root storage.Backend, mounts []Mount) (*Router, error) {
	var errs []error
	seen := map[string]bool{}
	for _, m := range mounts {
		switch {
		case m.Path == "/" || m.Path != path.Clean("/"+m.Path):
			errs = append(errs, fmt.Errorf("mount path %q must be clean, absolute and not /", m.Path))
		case seen[m.Path]:
			errs = append(errs, fmt.Errorf("mount path %q is mounted twice", m.Path))
		case m.Backend == nil:
			errs = append(errs, fmt.Errorf("mount path %q has no storage", m.Path))
		}
		seen[m.Path] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ms := slices.Clone(mounts)
	slices.SortFunc(ms, func(a, b Mount) int { return cmp.Compare(len(b.Path), len(a.Path)) })
	return &Router{root: root, mounts: ms}, nil
}

// Unwrap returns the root backend.
func (r *Router) Unwrap() storage.Backend { return r.root }

// route returns the backend owning name, the name in it, and the mount
// path ("/" for the root).
func (r *Router) route(name string) (storage.Backend, string, string) {
	for _, m := range r.mounts {
		if name == m.Path {
			return m.Backend, "/", m.Path
		}
		if strings.HasPrefix(name, m.Path+"/") {
			return m.Backend, name[len(m.Path):], m.Path
		}
	}
	return r.root, name, "/"
}

// virtual returns the names of the directories the mounts make in dir:
// mount points directly in it, and the first element of the path to
// deeper ones. Sorted, without duplicates.
func (r *Router) virtual(dir string) []string {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var names []string
	for _, m := range r.mounts {
		if rest, ok := strings.CutPrefix(m.Path, prefix); ok && rest != "" {
			first, _, _ := strings.Cut(rest, "/")
			names = append(names, first)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// isMountOrAbove reports whether name is a mount point or a directory on
// the way to one.
func (r *Router) isMountOrAbove(name string) bool {
	for _, m := range r.mounts {
		if m.Path == name || strings.HasPrefix(m.Path, strings.TrimSuffix(name, "/")+"/") {
			return true
		}
	}
	return false
}

func dirEntry(name string) storage.Entry {
	return storage.Entry{Name: path.Base(name), IsDir: true}
}

func refuse(op, name string, kind error, why string) error {
	return storage.E(op, name, kind, errors.New(why))
}

// Stat of a mount point or of a directory above one is a directory,
// whatever the backends hold there.
func (r *Router) Stat(ctx context.Context, name string) (storage.Entry, error) {
	if name != "/" && r.isMountOrAbove(name) {
		return dirEntry(name), nil
	}
	b, inner, _ := r.route(name)
	return b.Stat(ctx, inner)
}

// List lists dir from its backend, with the mounts' directories merged in
// order (a mount point hides an entry of the same name below it).
func (r *Router) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	b, inner, _ := r.route(dir)
	return merge(b.List(ctx, inner), r.virtual(dir))
}

// ListPrefix is List of the names starting with prefix, through the owning
// backend's PrefixLister.
func (r *Router) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	b, inner, _ := r.route(dir)
	pl, ok := storage.As[storage.PrefixLister](b)
	if !ok {
		return func(yield func(storage.Entry, error) bool) {
			yield(storage.Entry{}, storage.E("list", dir, storage.ErrNotSupported, nil))
		}
	}
	virt := slices.DeleteFunc(r.virtual(dir), func(n string) bool { return !strings.HasPrefix(n, prefix) })
	return merge(pl.ListPrefix(ctx, inner, prefix), virt)
}

// merge yields the entries of seq with directories named virt merged in
// by name. A dir that does not exist below but has virtual entries lists
// just those.
func merge(seq iter.Seq2[storage.Entry, error], virt []string) iter.Seq2[storage.Entry, error] {
	if len(virt) == 0 {
		return seq
	}
	return func(yield func(storage.Entry, error) bool) {
		i, listed := 0, false
		for e, err := range seq {
			if err != nil {
				if !listed && errors.Is(err, storage.ErrNotFound) {
					break
				}
				yield(e, err)
				return
			}
			listed = true
			for i < len(virt) && virt[i] < e.Name {
				if !yield(storage.Entry{Name: virt[i], IsDir: true}, nil) {
					return
				}
				i++
			}
			if i < len(virt) && virt[i] == e.Name {
				continue // the mount point hides it; yielded next round or at the end
			}
			if !yield(e, nil) {
				return
			}
		}
		for ; i < len(virt); i++ {
			if !yield(storage.Entry{Name: virt[i], IsDir: true}, nil) {
				return
			}
		}
	}
}

// Open reads a file from its backend; a mount point is a directory.
func (r *Router) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	if r.isMountOrAbove(name) {
		return nil, refuse("open", name, storage.ErrNotFound, "a directory (mount point)")
	}
	b, inner, _ := r.route(name)
	return b.Open(ctx, inner, off)
}

// Put stores a file in its backend.
func (r *Router) Put(ctx context.Context, name string, rd io.Reader, size int64) (int64, error) {
	if r.isMountOrAbove(name) {
		return 0, refuse("put", name, storage.ErrExist, "a directory (mount point) is in the way")
	}
	b, inner, _ := r.route(name)
	return b.Put(ctx, inner, rd, size)
}

// Remove deletes a file from its backend.
func (r *Router) Remove(ctx context.Context, name string) error {
	if r.isMountOrAbove(name) {
		return refuse("remove", name, storage.ErrNotFound, "a directory (mount point)")
	}
	b, inner, _ := r.route(name)
	return b.Remove(ctx, inner)
}

// Mkdir makes a directory in its backend; mount points exist already.
func (r *Router) Mkdir(ctx context.Context, name string) error {
	if r.isMountOrAbove(name) {
		return refuse("mkdir", name, storage.ErrExist, "a mount point")
	}
	b, inner, _ := r.route(name)
	return b.Mkdir(ctx, inner)
}

// Rmdir removes a directory from its backend; a mount point cannot be
// removed, and a directory above one is not empty.
func (r *Router) Rmdir(ctx context.Context, name string) error {
	if name != "/" {
		for _, m := range r.mounts {
			if m.Path == name {
				return refuse("rmdir", name, storage.ErrPermission, "a mount point")
			}
		}
		if r.isMountOrAbove(name) {
			return refuse("rmdir", name, storage.ErrNotEmpty, "holds a mount point")
		}
	}
	b, inner, _ := r.route(name)
	return b.Rmdir(ctx, inner)
}

// Rename moves within one backend. Between backends it is ErrCrossDevice;
// a mount point, or a directory holding one, does not move.
func (r *Router) Rename(ctx context.Context, from, to string) error {
	if r.isMountOrAbove(from) {
		return refuse("rename", from, storage.ErrPermission, "a mount point, or a directory holding one, cannot be moved")
	}
	if r.isMountOrAbove(to) {
		return refuse("rename", to, storage.ErrExist, "a directory (mount point) is in the way")
	}
	fb, fi, fm := r.route(from)
	tb, ti, tm := r.route(to)
	if fm != tm {
		return storage.E("rename", to, storage.ErrCrossDevice, fmt.Errorf("%s and %s are on different storages", from, to))
	}
	if fb != tb { // unreachable: one mount path, one backend
		return storage.E("rename", to, storage.ErrCrossDevice, nil)
	}
	return fb.Rename(ctx, fi, ti)
}

// Owner is the backend owning name (clean and absolute): the mount's
// whose path it is or is under, the innermost one, else the root's.
func (r *Router) Owner(name string) storage.Backend {
	b, _, _ := r.route(name)
	return b
}

// MayRename asks the backend owning name (a user's scoped view answers
// whether the login may rename it); false when it cannot tell.
func (r *Router) MayRename(name string) bool {
	if r.isMountOrAbove(name) {
		return false
	}
	b, inner, _ := r.route(name)
	m, ok := b.(interface{ MayRename(string) bool })
	return ok && m.MayRename(inner)
}

// Wrote asks the backend owning name whether this login has just
// uploaded it (a user's scoped view answers); false when it cannot tell.
func (r *Router) Wrote(name string) bool {
	if r.isMountOrAbove(name) {
		return false
	}
	b, inner, _ := r.route(name)
	m, ok := b.(interface{ Wrote(string) bool })
	return ok && m.Wrote(inner)
}

// Append goes to the backend owning name.
func (r *Router) Append(ctx context.Context, name string, off int64, rd io.Reader) (int64, error) {
	if r.isMountOrAbove(name) {
		return 0, refuse("append", name, storage.ErrExist, "a directory (mount point) is in the way")
	}
	b, inner, _ := r.route(name)
	a, ok := storage.As[storage.Appender](b)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	return a.Append(ctx, inner, off, rd)
}

// SetModTime goes to the backend owning name.
func (r *Router) SetModTime(ctx context.Context, name string, t time.Time) error {
	b, inner, _ := r.route(name)
	m, ok := storage.As[storage.ModTimeSetter](b)
	if !ok {
		return storage.E("mfmt", name, storage.ErrNotSupported, nil)
	}
	if r.isMountOrAbove(name) {
		return refuse("mfmt", name, storage.ErrNotFound, "a directory (mount point)")
	}
	return m.SetModTime(ctx, inner, t)
}
