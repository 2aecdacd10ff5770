package storagetest_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

// recorder collects what CheckWrap reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// forwarding passes every call on, as a wrapper should.
type forwarding struct{ b storage.Backend }

func (f *forwarding) Unwrap() storage.Backend { return f.b }
func (f *forwarding) Stat(ctx context.Context, name string) (storage.Entry, error) {
	return f.b.Stat(ctx, name)
}
func (f *forwarding) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return f.b.List(ctx, dir)
}
func (f *forwarding) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	return f.b.Open(ctx, name, off)
}
func (f *forwarding) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	return f.b.Put(ctx, name, r, size)
}
func (f *forwarding) Remove(ctx context.Context, name string) error { return f.b.Remove(ctx, name) }
func (f *forwarding) Mkdir(ctx context.Context, name string) error  { return f.b.Mkdir(ctx, name) }
func (f *forwarding) Rmdir(ctx context.Context, name string) error  { return f.b.Rmdir(ctx, name) }
func (f *forwarding) Rename(ctx context.Context, from, to string) error {
	return f.b.Rename(ctx, from, to)
}
func (f *forwarding) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	a, ok := storage.As[storage.Appender](f.b)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	return a.Append(ctx, name, off, r)
}
func (f *forwarding) SetModTime(ctx context.Context, name string, t time.Time) error {
	m, ok := storage.As[storage.ModTimeSetter](f.b)
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotSupported, nil)
	}
	return m.SetModTime(ctx, name, t)
}

func (f *forwarding) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	pl, ok := storage.As[storage.PrefixLister](f.b)
	if !ok {
		return func(yield func(storage.Entry, error) bool) {
			yield(storage.Entry{}, storage.E("list", dir, storage.ErrNotSupported, nil))
		}
	}
	return pl.ListPrefix(ctx, dir, prefix)
}

func (f *forwarding) Locate(name string) (storage.Location, error) {
	l, ok := storage.As[storage.Locator](f.b)
	if !ok {
		return storage.Location{}, storage.E("locate", name, storage.ErrNotSupported, nil)
	}
	return l.Locate(name)
}

// hiding forgets the optional interfaces: the mistake of a wrapper
// written before an ability existed.
type hiding struct{ storage.Backend }

func (h hiding) Unwrap() storage.Backend { return h.Backend }

// opaque forwards everything but cannot be looked under.
type opaque struct{ f *forwarding }

func (o opaque) Stat(ctx context.Context, name string) (storage.Entry, error) {
	return o.f.Stat(ctx, name)
}
func (o opaque) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return o.f.List(ctx, dir)
}
func (o opaque) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	return o.f.Open(ctx, name, off)
}
func (o opaque) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	return o.f.Put(ctx, name, r, size)
}
func (o opaque) Remove(ctx context.Context, name string) error { return o.f.Remove(ctx, name) }
func (o opaque) Mkdir(ctx context.Context, name string) error  { return o.f.Mkdir(ctx, name) }
func (o opaque) Rmdir(ctx context.Context, name string) error  { return o.f.Rmdir(ctx, name) }
func (o opaque) Rename(ctx context.Context, from, to string) error {
	return o.f.Rename(ctx, from, to)
}
func (o opaque) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	return o.f.Append(ctx, name, off, r)
}
func (o opaque) SetModTime(ctx context.Context, name string, t time.Time) error {
	return o.f.SetModTime(ctx, name, t)
}

func (o opaque) Locate(name string) (storage.Location, error) { return o.f.Locate(name) }

func (o opaque) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	return o.f.ListPrefix(ctx, dir, prefix)
}

// swallowing claims the abilities but never passes a call on.
type swallowing struct{ *forwarding }

func (swallowing) Append(_ context.Context, _ string, _ int64, r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}
func (swallowing) SetModTime(context.Context, string, time.Time) error { return nil }
func (swallowing) ListPrefix(context.Context, string, string) iter.Seq2[storage.Entry, error] {
	return func(func(storage.Entry, error) bool) {}
}

// calling calls the base's ListPrefix but never reads what it lists.
type calling struct{ *forwarding }

func (c calling) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	c.forwarding.ListPrefix(ctx, dir, prefix)
	return func(func(storage.Entry, error) bool) {}
}

// pretending has the methods and, on a base without the ability, says
// nothing went wrong.
type pretending struct{ *forwarding }

func (p pretending) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	if _, ok := storage.As[storage.Appender](p.b); !ok {
		return 0, nil
	}
	return p.forwarding.Append(ctx, name, off, r)
}
func (p pretending) SetModTime(ctx context.Context, name string, t time.Time) error {
	if _, ok := storage.As[storage.ModTimeSetter](p.b); !ok {
		return nil
	}
	return p.forwarding.SetModTime(ctx, name, t)
}
func (p pretending) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	if _, ok := storage.As[storage.PrefixLister](p.b); !ok {
		return func(func(storage.Entry, error) bool) {}
	}
	return p.forwarding.ListPrefix(ctx, dir, prefix)
}

func TestCheckWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wrap func(storage.Backend) storage.Backend
		want []string // each must be in one of the reported problems; none: no problems
	}{
		{"forwarding", func(b storage.Backend) storage.Backend { return &forwarding{b} }, nil},
		{"no wrapper at all", func(b storage.Backend) storage.Backend { return b }, nil},
		{"forwarding twice", func(b storage.Backend) storage.Backend { return &forwarding{&forwarding{b}} }, nil},
		{"hiding", func(b storage.Backend) storage.Backend { return hiding{b} }, []string{
			"wrapping a base with only Appender: the wrapper hides Appender",
			"wrapping a base with only ModTimeSetter: the wrapper hides ModTimeSetter",
			"wrapping a base with only PrefixLister: the wrapper hides PrefixLister",
		}},
		{"hiding under a forwarding wrapper", func(b storage.Backend) storage.Backend { return &forwarding{hiding{b}} }, []string{
			"the wrapper hides Appender",
			"the wrapper hides ModTimeSetter",
			"the wrapper hides PrefixLister",
		}},
		{"opaque", func(b storage.Backend) storage.Backend { return opaque{&forwarding{b}} }, []string{
			"wrapping a base without abilities: Unwrap does not lead to the base",
			"wrapping a base without abilities: the wrapper claims Appender, which the base lacks",
			"wrapping a base without abilities: the wrapper claims ModTimeSetter, which the base lacks",
			"wrapping a base without abilities: the wrapper claims PrefixLister, which the base lacks",
			"wrapping a base with only Appender: the wrapper claims ModTimeSetter",
			"wrapping a base with only PrefixLister: the wrapper claims Appender",
		}},
		{"swallowing", func(b storage.Backend) storage.Backend { return swallowing{&forwarding{b}} }, []string{
			"wrapping a base with only Appender: Appender through the wrapper returned <nil> and reached the base 0 times",
			"ModTimeSetter through the wrapper returned <nil> and reached the base 0 times",
			"wrapping a base with only PrefixLister: PrefixLister through the wrapper returned <nil> and reached the base 0 times",
			"wrapping a base without abilities: Appender through the wrapper returned <nil>, want ErrNotSupported",
			"wrapping a base without abilities: PrefixLister through the wrapper returned <nil>, want ErrNotSupported",
		}},
		{"calling without reading", func(b storage.Backend) storage.Backend { return calling{&forwarding{b}} }, []string{
			"wrapping a base with only PrefixLister: PrefixLister through the wrapper returned <nil> and reached the base 0 times",
		}},
		{"pretending", func(b storage.Backend) storage.Backend { return pretending{&forwarding{b}} }, []string{
			"wrapping a base without abilities: Appender through the wrapper returned <nil>, want ErrNotSupported",
			"wrapping a base with only Appender: ModTimeSetter through the wrapper returned <nil>, want ErrNotSupported",
			"wrapping a base with only Appender: PrefixLister through the wrapper returned <nil>, want ErrNotSupported",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{TB: t}
			storagetest.CheckWrap(r, tc.wrap)
			if tc.want == nil && len(r.errs) > 0 {
				t.Errorf("CheckWrap reported problems with a good wrapper:\n%s", strings.Join(r.errs, "\n"))
			}
			for _, w := range tc.want {
				found := false
				for _, e := range r.errs {
					found = found || strings.Contains(e, w)
				}
				if !found {
					t.Errorf("CheckWrap did not report %q; it reported:\n%s", w, strings.Join(r.errs, "\n"))
				}
			}
		})
	}
}
