package storage

import (
	"context"
	"errors"
	"io"
	"reflect"
	"time"
)

// Abilities are the optional interfaces of a Backend that wrappers pass
// on, for the front end to use through a user's scoped view. Ask for one
// with As (or Has), never by a bare type assertion: a wrapper has every
// ability's methods whatever its base can do.
//
// A new ability is an interface here and a line in Abilities, which makes
// storagetest.CheckWrap check that every wrapper passes it on.

// Appender is implemented by backends that can write into an existing file
// (FTP APPE, and REST followed by STOR).
type Appender interface {
	// Append keeps the first off bytes of name and stores the bytes of r
	// after them, so the file ends up off+n bytes long. A missing file with
	// off 0 is created. As with Put, the change becomes visible only when it
	// is complete: on error the old content is intact. off beyond the
	// current size is an error.
	Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error)
}

// ModTimeSetter is implemented by backends that can record a file's
// modification time (FTP MFMT).
type ModTimeSetter interface {
	SetModTime(ctx context.Context, name string, t time.Time) error
}

// HeldPutter is implemented by backends that can take an upload and hold
// it back: nothing is visible until the handle's Publish, so an upload to
// a temporary name followed by a rename costs one write and no copy.
type HeldPutter interface {
	// PutHeld reads r as Put does and returns the held file and the bytes
	// read. final is the name the file is expected to get (the store may
	// prepare the upload under it). On error nothing is held or visible.
	PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (Held, int64, error)
	// AppendHeld continues, at off, an upload PutHeld held whose client
	// went away before it ended (REST + STOR or APPE of the temp name
	// after a broken connection), and holds it back again: it returns the
	// held file and the bytes read from r. Where name has no such upload
	// to continue, it returns ErrNoHeldUpload having read nothing, and the
	// caller goes on as for any Append.
	AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (Held, int64, error)
}

// ErrNoHeldUpload is AppendHeld's answer where there is no interrupted
// held upload to continue. It is not a Kind: it never reaches a client.
var ErrNoHeldUpload = errors.New("no interrupted held upload to continue")

// Held is an upload that PutHeld holds back. Names are in the namespace of
// the backend whose PutHeld made it.
type Held interface {
	// Publish makes the file visible under name (the name it was put
	// under, or another one: the rename), replacing a file there. After a
	// failed Publish the upload is still held and may be published again
	// or aborted.
	Publish(ctx context.Context, name string) error
	// Abort discards the upload.
	Abort(ctx context.Context) error
}

// Locator is implemented by backends whose files are objects in a
// bucket: it names where a file is stored, for the events that tell about
// it (a user with their own storage, or a mount, stores elsewhere than
// the server's bucket).
type Locator interface {
	Locate(name string) (Location, error)
}

// Location is where a file is stored: the bucket and the object key.
type Location struct {
	Bucket, Key string
}

// Abilities lists every ability, for checks that must cover them all.
func Abilities() []Ability {
	return []Ability{
		ability[Appender](),
		ability[ModTimeSetter](),
		ability[PrefixLister](),
		ability[HeldPutter](),
		ability[Locator](),
	}
}

// An Ability is one optional interface, asked about without naming its
// type.
type Ability struct {
	Name string // the interface's name, e.g. "Appender"

	// Has is Has for this interface: whether the ability is there all the
	// way down.
	Has func(Backend) bool
	// Implements reports whether a backend has the interface's methods
	// itself, as a wrapper does even when its base lacks the ability.
	Implements func(Backend) bool
}

func ability[T any]() Ability {
	return Ability{
		Name: reflect.TypeFor[T]().Name(),
		Has:  Has[T],
		Implements: func(b Backend) bool {
			_, ok := b.(T)
			return ok
		},
	}
}

// Wrapper is implemented by backends that decorate another backend (a user's
// scoped view, fault injection, metrics). As uses it to look underneath.
//
// A wrapper implements every ability, passes each call on to the backend
// it wraps when that has the ability (As), and otherwise returns an
// ErrNotSupported error. storagetest.CheckWrap checks this.
type Wrapper interface {
	Unwrap() Backend
}

// As returns b as T when the ability is there all the way down: b
// implements T, and so does each backend under it, following Unwrap to the
// innermost. Calls go through the returned value, that is through b and its
// wrappers.
func As[T any](b Backend) (T, bool) {
	var zero T
	t, ok := b.(T)
	if !ok {
		return zero, false
	}
	for inner := b; ; {
		w, ok := inner.(Wrapper)
		if !ok {
			return t, true
		}
		if inner = w.Unwrap(); inner == nil {
			return zero, false
		}
		if _, ok := inner.(T); !ok {
			return zero, false
		}
	}
}

// Has reports whether b has the ability T all the way down, as As does. It
// answers "does the store underneath support this?" (for FEAT).
func Has[T any](b Backend) bool {
	_, ok := As[T](b)
	return ok
}
