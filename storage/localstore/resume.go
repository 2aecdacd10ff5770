package localstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Resumable uploads (README, "Interrupted uploads in a local
// directory"): an upload whose client went away (the data connection broke
// or stalled, the control connection closed, ABOR, the server's shutdown)
// keeps every byte it had written, fsynced, as
//
//	.bucketftp-tmp/resume/USER/NAME.data   the bytes so far
//	.bucketftp-tmp/resume/USER/NAME.json   its record (owner, path, times)
//
// (USER and NAME are hashes of the user and the path). Nothing is visible
// at the path: for the owner, Stat reports the stored length (Partial) and
// List shows it; REST <length> + STOR, or APPE, continues it from there
// (writing into the kept bytes in place, so that a crash meanwhile loses
// none of them) and renames it into place when complete; a plain STOR or a
// DELE discards it. After the resume window without a continuation it is
// deleted.

// resumeDir holds the kept uploads; New keeps it where it empties the
// rest of tmpDir.
const resumeDir = tmpDir + "/resume"

// cleanupEvery is how often expired kept uploads are looked for.
const cleanupEvery = time.Hour

// keptRecord is the record of a kept upload.
type keptRecord struct {
	User    string    `json:"user"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"` // when it was first interrupted
	Updated time.Time `json:"updated"` // last interrupted: the window runs from here
	// Over is the file at the path when the upload began as APPE or
	// REST + STOR onto it, keeping its first bytes; nil for a new file.
	Over *fileState `json:"over,omitempty"`
}

// fileState tells one version of a file from another.
type fileState struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Kept is how many of its first bytes the upload holds a copy of
	// (the restart offset); 0 in records from before it was kept.
	Kept int64 `json:"kept,omitempty"`
}

func stateOf(fi fs.FileInfo) *fileState {
	return &fileState{Size: fi.Size(), ModTime: fi.ModTime().UTC()}
}

// extends reports whether k began as an APPE or REST + STOR onto the file
// now at its path, unchanged since: completing it keeps that file's
// bytes rather than replacing another's.
func (k *kept) extends(fi fs.FileInfo) bool {
	o := k.rec.Over
	return o != nil && fi != nil && fi.Mode().IsRegular() && o.Size == fi.Size() && o.ModTime.Equal(fi.ModTime().UTC())
}

// kept is a kept upload found for its owner.
type kept struct {
	rec  keptRecord
	base string // the record's and data's path without the extension
	size int64
}

func (k *kept) data() string { return k.base + ".data" }

func userDir(user string) string {
	h := sha256.Sum256([]byte(user))
	return path.Join(resumeDir, hex.EncodeToString(h[:12]))
}

func keptBase(user, name string) string {
	h := sha256.Sum256([]byte(name))
	return path.Join(userDir(user), hex.EncodeToString(h[:16]))
}

// owner is the user whose interrupted uploads under ctx are kept, if any.
func (s *Store) owner(ctx context.Context) (string, bool) {
	if s.window <= 0 {
		return "", false
	}
	u, ok := storage.UploaderFrom(ctx)
	return u.User, ok && u.User != ""
}

// lookup returns user's kept upload of name; nil when there is none (or
// it has expired, which deletes it).
func (s *Store) lookup(user, name string) *kept {
	base := keptBase(user, name)
	k := s.readKept(base)
	if k == nil || k.rec.User != user || k.rec.Name != name {
		return nil
	}
	return k
}

// readKept reads the kept upload at base; nil when there is none.
func (s *Store) readKept(base string) *kept {
	b, err := s.root.ReadFile(base + ".json")
	if err != nil {
		return nil
	}
	k := &kept{base: base}
	if json.Unmarshal(b, &k.rec) != nil {
		// A record a crash left unreadable: deleted with its data once
		// the window has passed since it was written.
		if fi, err := s.root.Stat(base + ".json"); err == nil && time.Since(fi.ModTime()) > s.window {
			s.discardIdle(k)
		}
		return nil
	}
	if time.Since(k.rec.Updated) > s.window && s.discardIdle(k) {
		return nil
	}
	fi, err := s.root.Stat(k.data())
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	k.size = fi.Size()
	return k
}

// keptOf lists user's kept uploads.
func (s *Store) keptOf(user string) []*kept {
	ents, err := s.root.FS().(fs.ReadDirFS).ReadDir(userDir(user))
	if err != nil {
		return nil
	}
	var out []*kept
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if k := s.readKept(path.Join(userDir(user), base)); k != nil && k.rec.User == user {
			out = append(out, k)
		}
	}
	return out
}

// keptIn lists user's kept uploads in dir, by base name.
func (s *Store) keptIn(user, dir string) map[string]*kept {
	var out map[string]*kept
	for _, k := range s.keptOf(user) {
		if path.Dir(k.rec.Name) != dir {
			continue
		}
		if out == nil {
			out = map[string]*kept{}
		}
		out[path.Base(k.rec.Name)] = k
	}
	return out
}

// keep moves the temporary file tmp, holding the first size bytes of an
// interrupted upload of name, aside for user to continue; it reports
// whether it did. f is tmp open for writing, or nil when closed already;
// over is the file whose first bytes the upload keeps (nil for a new
// file); held says the caller holds name's busy slot (an APPE).
func (s *Store) keep(ctx context.Context, user, name, tmp string, f *os.File, created time.Time, over *fileState, held bool) bool {
	if f != nil {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false
		}
	}
	fi, err := s.root.Stat(tmp)
	if err != nil || fi.Size() == 0 {
		return false
	}
	base := keptBase(user, name)
	if err := s.root.MkdirAll(userDir(user), 0o700); err != nil {
		return false
	}
	if tmp != base+".data" { // a continuation writes there already
		// A continuation of the same name running meanwhile keeps its
		// bytes; this upload keeps none. (An APPE holds the name itself.)
		if !held {
			if !s.busy.take(base) {
				return false
			}
			defer s.busy.drop(base)
		}
		if err := s.root.Rename(tmp, base+".data"); err != nil {
			return false
		}
	}
	rec := keptRecord{User: user, Name: name, Created: created.UTC(), Updated: time.Now().UTC(), Over: over}
	if err := s.writeRecord(base, rec); err != nil {
		_ = s.root.Remove(base + ".data")
		return false
	}
	storage.RecordKept(ctx, fi.Size())
	return true
}

var _ storage.KeptCounter = (*Store)(nil)

// KeptBytes is the size of the user's kept uploads but the one of except:
// the bytes each adds to what is stored (one that began as APPE or REST +
// STOR onto a file holds a copy of the file's first bytes, which count as
// the file's).
func (s *Store) KeptBytes(ctx context.Context, except string) int64 {
	user, ok := s.owner(ctx)
	if !ok {
		return 0
	}
	var n int64
	for _, k := range s.keptOf(user) {
		if k.rec.Name == except {
			continue
		}
		size := k.size
		if from, ok := s.busy.beganWith(k.base); ok {
			size = from // being continued: the bytes since count as the continuation's
		}
		n += size
		if o := k.rec.Over; o != nil {
			n -= min(o.Kept, size) // a copy of the file's, counted as its
		}
	}
	return n
}

// names is a set of kept uploads (by keptBase) being continued.
type names struct {
	mu   sync.Mutex
	set  map[string]bool
	from map[string]int64 // a continuation's kept bytes when it began
}

// began records that the continuation of base (taken) began with size
// bytes kept: what the upload counts for while the continuation writes
// into it (KeptBytes), as its new bytes are counted as they come.
func (n *names) began(base string, size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.from == nil {
		n.from = map[string]int64{}
	}
	n.from[base] = size
}

// beganWith is what began recorded for base, while it runs.
func (n *names) beganWith(base string) (int64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	size, ok := n.from[base]
	return size, ok
}

func (n *names) take(base string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.set[base] {
		return false
	}
	if n.set == nil {
		n.set = map[string]bool{}
	}
	n.set[base] = true
	return true
}

func (n *names) drop(base string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.set, base)
	delete(n.from, base)
}

// touch writes k's record again with the window starting now.
func (s *Store) touch(k *kept) error {
	k.rec.Updated = time.Now().UTC()
	return s.writeRecord(k.base, k.rec)
}

// writeRecord writes the record at base atomically and durably: the
// record is fsynced before it is renamed into place, and the directory
// after.
func (s *Store) writeRecord(base string, rec keptRecord) error {
	b, _ := json.Marshal(rec)
	rtmp := base + ".json.tmp"
	f, err := s.root.OpenFile(rtmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.Write(b)
		if serr := f.Sync(); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = s.root.Rename(rtmp, base+".json")
	}
	if err != nil {
		_ = s.root.Remove(rtmp)
		return err
	}
	return s.syncDir(path.Dir(base))
}

// syncDir fsyncs the directory dir, so that the renames into it survive a
// crash of the machine.
func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// discardIdle deletes k unless it is being continued, holding its busy
// slot meanwhile so that no continuation starts on it; it reports whether
// it did. (One being continued stays: its window starts again when the
// continuation ends, if it does not complete.)
func (s *Store) discardIdle(k *kept) bool {
	if !s.busy.take(k.base) {
		return false
	}
	defer s.busy.drop(k.base)
	s.discard(k)
	return true
}

// discard deletes a kept upload.
func (s *Store) discard(k *kept) {
	_ = s.root.Remove(k.base + ".json")
	_ = s.root.Remove(k.data())
}

// cleanupLoop deletes expired kept uploads every cleanupEvery until stop
// is closed (New has done it once already).
func (s *Store) cleanupLoop(stop <-chan struct{}) {
	t := time.NewTicker(cleanupEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.expire()
		case <-stop:
			return
		}
	}
}

// expire deletes the kept uploads whose window has passed, and data left
// without a record (a crash between the two renames of keep).
func (s *Store) expire() {
	fsys := s.root.FS().(fs.ReadDirFS)
	users, err := fsys.ReadDir(resumeDir)
	if err != nil {
		return
	}
	for _, u := range users {
		dir := path.Join(resumeDir, u.Name())
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".json"):
				s.readKept(strings.TrimSuffix(p, ".json")) // deletes it when expired
			case strings.HasSuffix(e.Name(), ".data"):
				if _, err := s.root.Stat(strings.TrimSuffix(p, ".data") + ".json"); errors.Is(err, fs.ErrNotExist) {
					if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > s.window {
						_ = s.root.Remove(p)
					}
				}
			default:
				if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
					_ = s.root.Remove(p) // a record never renamed into place
				}
			}
		}
	}
}

// entry is how k shows to its owner, fi being the file others see at its
// path (nil for none).
func (k *kept) entry(fi fs.FileInfo) storage.Entry {
	return storage.Entry{Name: path.Base(k.rec.Name), Size: k.size, ModTime: k.rec.Updated, Partial: true, Extends: k.extends(fi)}
}
