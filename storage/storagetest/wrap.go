package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// CheckWrap checks that a wrapper passes on the abilities of the backend
// it wraps, as rclone's FsCheckWrap does for its wrapping remotes. wrap
// must return a backend that decorates the one it is given. For a base
// with no abilities, and for one with each ability of storage.Abilities
// alone, the wrapped backend must
//   - lead by Unwrap (storage.Wrapper) to the base, so As can look under it;
//   - have (by storage.As) each ability the base has, and pass a call of it
//     on to the base;
//   - not have any ability the base lacks, and when it implements the
//     methods anyway, return ErrNotSupported from them.
//
// Each base is an empty working in-memory backend, so wrap may make
// directories or log a user in. CheckWrap reports problems with t.Errorf.
func CheckWrap(t testing.TB, wrap func(storage.Backend) storage.Backend) {
	t.Helper()
	abilities := storage.Abilities()
	for _, a := range abilities {
		if _, ok := probes[a.Name]; !ok {
			t.Errorf("storagetest cannot build a base with storage.%s: add it to probes", a.Name)
		}
	}
	checkWrapOf(t, wrap, abilities, "")
	for _, a := range abilities {
		if _, ok := probes[a.Name]; ok {
			checkWrapOf(t, wrap, abilities, a.Name)
		}
	}
}

// checkWrapOf wraps a base with only the ability named has ("": none).
func checkWrapOf(t testing.TB, wrap func(storage.Backend) storage.Backend, abilities []storage.Ability, has string) {
	t.Helper()
	ctx := t.Context()
	bb := &bare{Backend: memstore.New(), calls: map[string]int{}}
	var base storage.Backend = bb
	what := "a base without abilities"
	if has != "" {
		base = probes[has].with(bb)
		what = "a base with only " + has
	}
	w := wrap(base)
	if !unwrapsTo(w, base) {
		t.Errorf("wrapping %s: Unwrap does not lead to the base, so As cannot look under the wrapper", what)
	}
	for _, a := range abilities {
		p, ok := probes[a.Name]
		if !ok {
			continue
		}
		switch {
		case a.Name == has && !a.Has(w):
			t.Errorf("wrapping %s: the wrapper hides %s", what, a.Name)
		case a.Name == has:
			before := bb.calls[a.Name]
			if err := p.use(ctx, w); err != nil || bb.calls[a.Name] == before {
				t.Errorf("wrapping %s: %s through the wrapper returned %v and reached the base %d times, want nil and at least once",
					what, a.Name, err, bb.calls[a.Name]-before)
			}
		case a.Has(w):
			t.Errorf("wrapping %s: the wrapper claims %s, which the base lacks", what, a.Name)
		case a.Implements(w):
			if err := p.use(ctx, w); !errors.Is(err, storage.ErrNotSupported) {
				t.Errorf("wrapping %s: %s through the wrapper returned %v, want ErrNotSupported", what, a.Name, err)
			}
		}
	}
}

// unwrapsTo reports whether following Unwrap from w reaches base.
func unwrapsTo(w, base storage.Backend) bool {
	for range 100 { // a longer chain is a loop
		if w == base {
			return true
		}
		u, ok := w.(storage.Wrapper)
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// bare is a working backend with no abilities. The probes built on it
// count the calls of each ability's methods.
type bare struct {
	storage.Backend
	calls map[string]int // by ability name
}

// A probe adds one ability to a bare backend and calls it.
type probe struct {
	with func(*bare) storage.Backend
	// use calls the ability's methods of b, which implements it.
	use func(ctx context.Context, b storage.Backend) error
}

// probes has one entry for each of storage.Abilities, by name.
var probes = map[string]probe{
	"Appender": {
		with: func(b *bare) storage.Backend { return &withAppender{b} },
		use: func(ctx context.Context, b storage.Backend) error {
			_, err := b.(storage.Appender).Append(ctx, "/probe", 0, strings.NewReader("x"))
			return err
		},
	},
	"ModTimeSetter": {
		with: func(b *bare) storage.Backend { return &withModTimeSetter{b} },
		use: func(ctx context.Context, b storage.Backend) error {
			return b.(storage.ModTimeSetter).SetModTime(ctx, "/probe", time.Unix(0, 0))
		},
	},
	"HeldPutter": {
		with: func(b *bare) storage.Backend { return &withHeldPutter{b} },
		// A held upload is published: a wrapper must pass the handle's
		// calls on too.
		use: func(ctx context.Context, b storage.Backend) error {
			hp := b.(storage.HeldPutter)
			h, _, err := hp.PutHeld(ctx, "/probe.part", "/probe", strings.NewReader("x"), -1)
			if err != nil {
				return err
			}
			if err := h.Publish(ctx, "/probe"); err != nil {
				return err
			}
			h, _, err = hp.AppendHeld(ctx, "/probe.part", "/probe", 1, strings.NewReader("y"))
			if err != nil {
				return fmt.Errorf("AppendHeld: %w", err)
			}
			return h.Publish(ctx, "/probe")
		},
	},
	"Locator": {
		with: func(b *bare) storage.Backend { return &withLocator{b} },
		use: func(_ context.Context, b storage.Backend) error {
			_, err := b.(storage.Locator).Locate("/probe")
			return err
		},
	},
	"PrefixLister": {
		with: func(b *bare) storage.Backend { return &withPrefixLister{b} },
		// The listing is read to its end: a wrapper that calls ListPrefix
		// but drops the sequence has not passed the call on.
		use: func(ctx context.Context, b storage.Backend) error {
			for _, err := range b.(storage.PrefixLister).ListPrefix(ctx, "/", "probe") {
				if err != nil {
					return err
				}
			}
			return nil
		},
	},
}

type withAppender struct{ *bare }

func (b *withAppender) Append(_ context.Context, _ string, _ int64, r io.Reader) (int64, error) {
	b.calls["Appender"]++
	return io.Copy(io.Discard, r)
}

type withModTimeSetter struct{ *bare }

func (b *withModTimeSetter) SetModTime(context.Context, string, time.Time) error {
	b.calls["ModTimeSetter"]++
	return nil
}

type withHeldPutter struct{ *bare }

// PutHeld counts a call when the held upload is published.
func (b *withHeldPutter) PutHeld(_ context.Context, _, _ string, r io.Reader, _ int64) (storage.Held, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return probeHeld{b.bare}, n, err
}

func (b *withHeldPutter) AppendHeld(_ context.Context, _, _ string, _ int64, r io.Reader) (storage.Held, int64, error) {
	n, err := io.Copy(io.Discard, r)
	return probeHeld{b.bare}, n, err
}

type probeHeld struct{ b *bare }

func (h probeHeld) Publish(context.Context, string) error {
	h.b.calls["HeldPutter"]++
	return nil
}

func (h probeHeld) Abort(context.Context) error { return nil }

type withLocator struct{ *bare }

func (b *withLocator) Locate(name string) (storage.Location, error) {
	b.calls["Locator"]++
	return storage.Location{Bucket: "probe", Key: name}, nil
}

type withPrefixLister struct{ *bare }

// ListPrefix counts a call when its listing is read.
func (b *withPrefixLister) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		b.calls["PrefixLister"]++
		for e, err := range storage.ListFrom(ctx, b.bare, dir, prefix) { // bare: filters List
			if !yield(e, err) {
				return
			}
		}
	}
}
