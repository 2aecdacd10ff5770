package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argonParams are argon2id's cost settings.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultArgon follows OWASP's recommendation for argon2id.
var defaultArgon = argonParams{memory: 19456, time: 2, threads: 1}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash of pw in PHC string form
// ($argon2id$v=19$m=19456,t=2,p=1$salt$key), for the users file's
// password_hash.
func HashPassword(pw string) (string, error) {
	return hashArgon(pw, defaultArgon)
}

// hashArgon hashes pw with the given costs; tests use cheap ones.
func hashArgon(pw string, p argonParams) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, argonKeyLen)
	return formatArgon(p, salt, key), nil
}

func formatArgon(p argonParams, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is verified against when a login names an unknown user, so that
// it costs what a known user's login costs. No password matches it in
// practice (its key is all zeros).
func dummyHash() string {
	return formatArgon(defaultArgon, make([]byte, argonSaltLen), make([]byte, argonKeyLen))
}

// dummyLike returns a hash that costs what the most common kind of hash
// in hashes costs to verify (argon2id with the same parameters, or bcrypt
// with the same cost), so that an unknown user takes as long as the known
// ones; the default argon2id when there is none.
func dummyLike(hashes []string) string {
	counts := map[string]int{}
	for _, h := range hashes {
		if p, _, _, err := parseArgon(h); err == nil {
			counts[formatArgon(p, make([]byte, argonSaltLen), make([]byte, argonKeyLen))]++
		} else if cost, err := bcrypt.Cost([]byte(h)); err == nil {
			counts["bcrypt:"+strconv.Itoa(cost)]++
		}
	}
	best, n := "", 0
	for k, c := range counts {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	cost, isBcrypt := strings.CutPrefix(best, "bcrypt:")
	switch {
	case best == "":
		return dummyHash()
	case isBcrypt:
		c, _ := strconv.Atoi(cost)
		var pw [16]byte
		_, _ = rand.Read(pw[:])
		h, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw[:])), c)
		if err != nil {
			return dummyHash()
		}
		return string(h)
	}
	return best
}

var errBadHash = errors.New("password hash is neither argon2id (PHC string form) nor bcrypt")

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// VerifyPassword checks pw against an argon2id hash in PHC string form (any
// costs) or a bcrypt hash ($2a$, $2b$, $2y$). It returns an error only when
// the hash itself is malformed.
func VerifyPassword(hash, pw string) (bool, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		p, salt, key, err := parseArgon(hash)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1, nil
	case isBcrypt(hash):
		// bcrypt compares in constant time itself.
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	return false, errBadHash
}

// checkHash reports whether hash is in a form VerifyPassword accepts.
func checkHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, _, _, err := parseArgon(hash)
		return err
	case isBcrypt(hash):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("bcrypt hash: %w", err)
		}
		return nil
	}
	return errBadHash
}

// parseArgon splits $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parseArgon(hash string) (argonParams, []byte, []byte, error) {
	bad := func(why string) (argonParams, []byte, []byte, error) {
		return argonParams{}, nil, nil, fmt.Errorf("argon2id hash: %s", why)
	}
	f := strings.Split(hash, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return bad("want $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<key>")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad(fmt.Sprintf("unsupported version %q (want v=%d)", f[2], argon2.Version))
	}
	var vals [3]uint64
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return bad("parameters must be m=..,t=..,p=..")
	}
	for i, k := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], k)
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return bad("parameters must be m=..,t=..,p=.. with positive numbers")
		}
		vals[i] = n
	}
	// Bounds keep a typo from costing gigabytes or minutes per login.
	if vals[0] > 4<<20 || vals[1] > 100 || vals[2] > 255 {
		return bad("parameters out of range (m <= 4194304, t <= 100, p <= 255)")
	}
	p := argonParams{memory: uint32(vals[0]), time: uint32(vals[1]), threads: uint8(vals[2])}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(f[4])
	key, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return bad("salt or key is not unpadded base64 of at least 8 and 16 bytes")
	}
	return p, salt, key, nil
}
