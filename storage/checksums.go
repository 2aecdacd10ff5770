package storage

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Checksum algorithms, named as the FTP HASH command names them
// (draft-bryan-ftpext-hash-02).
const (
	SHA256 = "SHA-256"
	SHA1   = "SHA-1"
	SHA512 = "SHA-512"
	MD5    = "MD5"
	CRC32  = "CRC32" // IEEE, as S3's ChecksumCRC32 and zlib
)

// Algorithms lists every checksum algorithm, in the order FEAT names them.
func Algorithms() []string { return []string{SHA256, SHA1, SHA512, MD5, CRC32} }

// ParseAlgorithm returns the algorithm a name means, ignoring case and a
// missing hyphen ("sha256" is SHA-256).
func ParseAlgorithm(name string) (string, bool) {
	n := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(name)), "-", "")
	for _, a := range Algorithms() {
		if strings.ReplaceAll(a, "-", "") == n {
			return a, true
		}
	}
	return "", false
}

// NewHash returns a new hash of algorithm algo (one of Algorithms).
func NewHash(algo string) hash.Hash {
	switch algo {
	case SHA256:
		return sha256.New()
	case SHA1:
		return sha1.New()
	case SHA512:
		return sha512.New()
	case MD5:
		return md5.New()
	case CRC32:
		return crc32.NewIEEE()
	}
	return nil
}

// Checksums are a file's checksums: algorithm (as in Algorithms) ->
// lowercase hex.
type Checksums map[string]string

// ChecksumMismatch is the error of an upload whose bytes do not have the
// checksum the client declared for it (SITE CHECKSUM): the hashing reader
// returns it instead of the end of the data, so the backend stores nothing.
type ChecksumMismatch struct {
	Algo     string
	Declared string
	Got      string
}

func (e *ChecksumMismatch) Error() string {
	return "upload's " + e.Algo + " is " + e.Got + ", declared " + e.Declared
}

// ErrDeclaredWhole refuses a declared checksum (SITE CHECKSUM) for an
// upload that keeps bytes of the file (APPE, REST+STOR): the declared
// value is of a whole file, and the kept bytes are not read.
var ErrDeclaredWhole = errors.New("a declared checksum needs an upload of the whole file")

// Hashing computes an upload's checksums in the same pass that stores it:
// the front end puts one in the upload's context (WithHashing), the
// user's view of the storage reads the client's data through Reader, and
// the backend finds it in the context to store the checksums with the
// object (Sums, once the data is read to its end). Every enabled hash is
// fed by one io.MultiWriter.
//
// A backend that computes one of the algorithms itself anyway (s3store:
// CRC32 per part, for the store to verify) takes it over before reading
// (Take) and reports the result (Report), so no byte is hashed twice.
type Hashing struct {
	mu      sync.Mutex
	algos   []string
	expect  Checksums
	hashes  map[string]hash.Hash
	started bool      // the first byte was read: no more Take
	sums    Checksums // at the end of the data; nil before
}

// NewHashing returns a Hashing of algos (SHA-256 is always among them)
// that, with expect, fails an upload whose checksums differ.
func NewHashing(algos []string, expect Checksums) *Hashing {
	h := &Hashing{expect: maps.Clone(expect)}
	for _, a := range append([]string{SHA256}, algos...) {
		if NewHash(a) != nil && !slices.Contains(h.algos, a) {
			h.algos = append(h.algos, a)
		}
	}
	for a := range expect {
		if NewHash(a) != nil && !slices.Contains(h.algos, a) {
			h.algos = append(h.algos, a)
		}
	}
	return h
}

type hashingKey struct{}

// WithHashing returns ctx carrying h.
func WithHashing(ctx context.Context, h *Hashing) context.Context {
	return context.WithValue(ctx, hashingKey{}, h)
}

// HashingFrom returns the Hashing ctx carries, or nil.
func HashingFrom(ctx context.Context) *Hashing {
	h, _ := ctx.Value(hashingKey{}).(*Hashing)
	return h
}

// Expected returns the checksums the client declared.
func (h *Hashing) Expected() Checksums {
	if h == nil {
		return nil
	}
	return maps.Clone(h.expect)
}

// Take hands algo over to the backend, which computes it itself and
// reports it with Report. It must be called before the first read; it
// returns false (the Hashing keeps computing algo) after that, or when the
// client declared algo, which is checked before the end of the data.
func (h *Hashing) Take(algo string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.expect[algo] != "" {
		return false
	}
	h.algos = slices.DeleteFunc(h.algos, func(a string) bool { return a == algo })
	return true
}

// Report records a checksum the backend computed (after Take).
func (h *Hashing) Report(algo, hexsum string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sums != nil {
		h.sums[algo] = hexsum
	}
}

// Sums returns the upload's checksums once its data has been read to the
// end (the hashing reader returned io.EOF), else nil.
func (h *Hashing) Sums() Checksums {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.sums)
}

// Reader returns r read through the hashes. At the end of r it computes
// the checksums, and when one differs from the declared value it returns a
// *ChecksumMismatch instead of io.EOF: the backend then fails the upload,
// before anything is visible. One Hashing reads one upload.
func (h *Hashing) Reader(r io.Reader) io.Reader {
	return &hashingReader{h: h, r: r}
}

type hashingReader struct {
	h    *Hashing
	r    io.Reader
	w    io.Writer
	done bool
	err  error
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	if hr.done {
		return 0, hr.err
	}
	if hr.w == nil {
		hr.w = hr.h.start()
	}
	n, err := hr.r.Read(p)
	if n > 0 {
		_, _ = hr.w.Write(p[:n]) // hashes never fail
	}
	if errors.Is(err, io.EOF) {
		hr.done, hr.err = true, hr.h.finish()
		if hr.err == nil {
			hr.err = err
		}
		return n, hr.err
	}
	return n, err
}

// start makes the hashes, once the first read is asked for (a restored
// Hashing has them already).
func (h *Hashing) start() io.Writer {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.started = true
	if h.hashes == nil {
		h.hashes = map[string]hash.Hash{}
		for _, a := range h.algos {
			h.hashes[a] = NewHash(a)
		}
	}
	ws := make([]io.Writer, 0, len(h.algos))
	for _, a := range h.algos {
		ws = append(ws, h.hashes[a])
	}
	return io.MultiWriter(ws...)
}

// State returns the hashes' state after the bytes read so far (each
// hash's MarshalBinary), for an upload that may be continued later by
// another process (RestoreHashing); nil before the first read or when a
// hash cannot be saved.
func (h *Hashing) State() map[string][]byte {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hashes == nil {
		return nil
	}
	out := make(map[string][]byte, len(h.hashes))
	for a, hh := range h.hashes {
		m, ok := hh.(encoding.BinaryMarshaler)
		if !ok {
			return nil
		}
		b, err := m.MarshalBinary()
		if err != nil {
			return nil
		}
		out[a] = b
	}
	return out
}

// RestoreHashing returns a Hashing that goes on from a State: what its
// Reader reads is hashed after the bytes the state covers, so its Sums
// are those of the whole file.
func RestoreHashing(state map[string][]byte) (*Hashing, error) {
	h := &Hashing{hashes: map[string]hash.Hash{}}
	for _, a := range Algorithms() {
		b, ok := state[a]
		if !ok {
			continue
		}
		hh := NewHash(a)
		u, ok := hh.(encoding.BinaryUnmarshaler)
		if !ok {
			return nil, errors.New("hash state of " + a + " cannot be restored")
		}
		if err := u.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		h.algos = append(h.algos, a)
		h.hashes[a] = hh
	}
	if len(h.algos) != len(state) {
		return nil, errors.New("unknown algorithm in a hash state")
	}
	return h, nil
}

// finish computes the sums at the end of the data and checks the declared
// ones.
func (h *Hashing) finish() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sums = Checksums{}
	for a, hh := range h.hashes {
		h.sums[a] = hex.EncodeToString(hh.Sum(nil))
	}
	for _, a := range slices.Sorted(maps.Keys(h.expect)) {
		if want := h.expect[a]; h.sums[a] != want {
			return &ChecksumMismatch{Algo: a, Declared: want, Got: h.sums[a]}
		}
	}
	return nil
}

// ChecksumQuery asks a backend, through the context of a Stat, for the
// checksums it recorded with the file (WithChecksumQuery). A backend that
// records none leaves it empty; the front end then computes them by
// reading the file.
type ChecksumQuery struct {
	mu   sync.Mutex
	sums Checksums
	size int64
	ok   bool
}

type queryKey struct{}

// WithChecksumQuery returns ctx carrying a new, empty ChecksumQuery.
func WithChecksumQuery(ctx context.Context) (context.Context, *ChecksumQuery) {
	q := &ChecksumQuery{}
	return context.WithValue(ctx, queryKey{}, q), q
}

// ChecksumQueryFrom returns the query ctx carries, or nil.
func ChecksumQueryFrom(ctx context.Context) *ChecksumQuery {
	q, _ := ctx.Value(queryKey{}).(*ChecksumQuery)
	return q
}

// Answer records the checksums a backend has for a file of size bytes.
func (q *ChecksumQuery) Answer(size int64, sums Checksums) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.size, q.sums, q.ok = size, maps.Clone(sums), true
}

// Result returns what the backend answered: the recorded checksums, the
// file's size then, and whether it answered at all.
func (q *ChecksumQuery) Result() (Checksums, int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return maps.Clone(q.sums), q.size, q.ok
}

// Algos returns the algorithms h computes (after Take, without those
// taken over).
func (h *Hashing) Algos() []string {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.algos)
}

// End states: what an append needs to go on hashing a stored file without
// reading it. A hash's state at the end of a file is its chaining value,
// the length, and the file's last bytes that do not fill a block. EndState
// keeps the first two, so no byte of the file is written into it (it is
// recorded with the object, in metadata or tags that may be readable by
// more than the object is); ResumeHashing takes the last bytes from the
// file (EndStateSize says how many: at most 127) and the CRC32 from the file's
// recorded checksum (a CRC32 is its own state).
//
// The form is "v1 SIZE ALGO=VALUE ...", VALUE the raw (unpadded) standard
// base64 of the chaining value; under 256 characters with every algorithm,
// in the characters S3 allows in a tag's value.

const endStateVersion = "v1"

// stateLayout splits algo's marshaled state (Go's hash state form: a
// 4-byte magic, the chaining value, one block of pending bytes, the length
// as a big-endian uint64) into its parts; ok is false for CRC32 or a form
// not of that shape.
func stateLayout(algo string, b []byte) (chain []byte, bs int, ok bool) {
	hh := NewHash(algo)
	if hh == nil || algo == CRC32 {
		return nil, 0, false
	}
	bs = hh.BlockSize()
	if len(b) < 4+bs+8+1 {
		return nil, 0, false
	}
	return b[4 : len(b)-8-bs], bs, true
}

// EndState returns the end state of the file h has read to its end, or ""
// when there is none (the data has not ended, or a hash cannot be saved).
func (h *Hashing) EndState() string {
	if h == nil || h.Sums() == nil {
		return ""
	}
	st := h.State()
	if st == nil {
		return ""
	}
	size := int64(-1)
	var parts []string
	for _, a := range Algorithms() {
		b, ok := st[a]
		if !ok || a == CRC32 {
			continue
		}
		chain, _, ok := stateLayout(a, b)
		n := int64(binary.BigEndian.Uint64(b[len(b)-8:]))
		if !ok || (size >= 0 && n != size) {
			return ""
		}
		size = n
		parts = append(parts, EventName(a)+"="+base64.RawStdEncoding.EncodeToString(chain))
	}
	if size < 0 {
		return ""
	}
	return strings.Join(append([]string{endStateVersion, strconv.FormatInt(size, 10)}, parts...), " ")
}

// EventName is algo as events and recorded names spell it: "sha256".
func EventName(algo string) string {
	return strings.ToLower(strings.ReplaceAll(algo, "-", ""))
}

// ByEventName returns c keyed as upload events name the algorithms
// ("sha256").
func (c Checksums) ByEventName() map[string]string {
	out := make(map[string]string, len(c))
	for algo, v := range c {
		out[EventName(algo)] = v
	}
	return out
}

// parseEndState reads an EndState: the size and each algorithm's chaining
// value.
func parseEndState(state string) (int64, map[string][]byte, error) {
	f := strings.Fields(state)
	if len(f) < 2 || f[0] != endStateVersion {
		return 0, nil, errors.New("not a checksum end state")
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || size < 0 {
		return 0, nil, errors.New("checksum end state: bad size")
	}
	chains := map[string][]byte{}
	for _, kv := range f[2:] {
		name, v, _ := strings.Cut(kv, "=")
		algo, ok := ParseAlgorithm(name)
		if !ok || algo == CRC32 {
			return 0, nil, errors.New("checksum end state: unknown algorithm " + name)
		}
		b, err := base64.RawStdEncoding.DecodeString(v)
		if err != nil {
			return 0, nil, errors.New("checksum end state: bad value of " + name)
		}
		chains[algo] = b
	}
	return size, chains, nil
}

// EndStateSize returns the size of the file state is the EndState of,
// and how many of its last bytes ResumeHashing needs with it: those after
// its last whole block of the largest block size among the algorithms.
func EndStateSize(state string) (size, tail int64, err error) {
	size, chains, err := parseEndState(state)
	if err != nil {
		return 0, 0, err
	}
	var bs int64
	for a := range chains {
		bs = max(bs, int64(NewHash(a).BlockSize()))
	}
	if bs == 0 {
		return size, 0, nil
	}
	return size, size % bs, nil
}

// ResumeHashing returns a Hashing of algos that goes on after a stored
// file of which state is the EndState, tail the last bytes EndStateSize names and
// sums the recorded checksums (the CRC32, when algos has it, is taken from
// there): what its Reader reads is hashed after the file, so its Sums are
// those of the file and the appended bytes together. It fails unless it
// can go on with every one of algos.
func ResumeHashing(state string, tail []byte, sums Checksums, algos []string) (*Hashing, error) {
	size, chains, err := parseEndState(state)
	if err != nil {
		return nil, err
	}
	blobs := map[string][]byte{}
	for _, a := range algos {
		fresh, ok := NewHash(a).(encoding.BinaryMarshaler)
		if !ok {
			return nil, errors.New("hash state of " + a + " cannot be restored")
		}
		b, err := fresh.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if a == CRC32 {
			// Go's form: a magic, the table's checksum, the CRC, each
			// 4 bytes.
			c, err := hex.DecodeString(sums[CRC32])
			if err != nil || len(c) != 4 || len(b) != 12 {
				return nil, errors.New("no recorded CRC32 to go on from")
			}
			copy(b[8:], c)
			blobs[a] = b
			continue
		}
		chain, bs, ok := stateLayout(a, b)
		if !ok || len(chains[a]) != len(chain) {
			return nil, errors.New("no end state of " + a)
		}
		n := size % int64(bs)
		if int64(len(tail)) < n {
			return nil, errors.New("the file's last bytes are missing")
		}
		copy(chain, chains[a])
		copy(b[len(b)-8-bs:], tail[int64(len(tail))-n:])
		binary.BigEndian.PutUint64(b[len(b)-8:], uint64(size))
		blobs[a] = b
	}
	return RestoreHashing(blobs)
}
