package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// cheap makes an argon2id hash with tiny costs, so tests stay fast under -race.
func cheap(t testing.TB, pw string) string {
	t.Helper()
	h, err := hashArgon(pw, argonParams{memory: 64, time: 1, threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func bcryptHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 4)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(h, "$")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || len(f) != 6 || len(f[4]) != 22 || len(f[5]) != 43 {
		t.Fatalf("HashPassword = %q, want PHC form with a 16-byte salt and a 32-byte key", h)
	}
	if ok, err := VerifyPassword(h, "s3cret"); !ok || err != nil {
		t.Fatalf("VerifyPassword(own hash) = %v, %v", ok, err)
	}
	if h2, _ := HashPassword("s3cret"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if ok, err := VerifyPassword(dummyHash(), ""); ok || err != nil {
		t.Fatalf("dummy hash: %v, %v", ok, err)
	}
}

func TestVerifyPassword(t *testing.T) {
	t.Parallel()
	argon := cheap(t, "pw")
	bc := bcryptHash(t, "pw")
	tests := []struct {
		name, hash, pw string
		want           bool
	}{
		{"argon2id right", argon, "pw", true},
		{"argon2id wrong", argon, "pW", false},
		{"argon2id empty", argon, "", false},
		{"bcrypt 2a right", bc, "pw", true},
		{"bcrypt 2a wrong", bc, "wrong", false},
		{"bcrypt 2b right", "$2b$" + bc[4:], "pw", true},
		{"bcrypt 2y right", "$2y$" + bc[4:], "pw", true},
		{"bcrypt 2y wrong", "$2y$" + bc[4:], "px", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := VerifyPassword(tc.hash, tc.pw)
			if got != tc.want || err != nil {
				t.Fatalf("VerifyPassword = %v, %v; want %v", got, err, tc.want)
			}
			if err := checkHash(tc.hash); err != nil {
				t.Fatalf("checkHash: %v", err)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	const salt, key = "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "secret"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"zero memory", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{"params out of order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"trailing junk in params", "$argon2id$v=19$m=64,t=1,p=1x$" + salt + "$" + key},
		{"too many threads", "$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key},
		{"huge memory", "$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA"},
		{"bcrypt too short", "$2a$04$abc"},
		{"bcrypt bad cost", "$2a$xx$" + strings.Repeat("a", 53)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if ok, err := VerifyPassword(tc.hash, "pw"); ok || err == nil {
				t.Errorf("VerifyPassword(%q) = %v, %v; want an error", tc.hash, ok, err)
			}
			if err := checkHash(tc.hash); err == nil {
				t.Errorf("checkHash(%q) accepted it", tc.hash)
			}
		})
	}
}

// The hash an unknown user is checked against costs what the users' own
// hashes cost, so the time of a failed login does not tell whether the
// user exists, whatever hashes the users file holds.
func TestDummyLikeTheUsers(t *testing.T) {
	b4, _ := bcrypt.GenerateFromPassword([]byte("a"), 4)
	b5, _ := bcrypt.GenerateFromPassword([]byte("b"), 5)
	argon, err := HashPassword("c")
	if err != nil {
		t.Fatal(err)
	}
	if got := dummyLike(nil); got != dummyHash() {
		t.Errorf("no users: %q", got)
	}
	d := dummyLike([]string{string(b4), string(b4), string(b5), argon})
	if c, err := bcrypt.Cost([]byte(d)); err != nil || c != 4 {
		t.Errorf("mostly bcrypt cost 4: %q (cost %d, %v)", d, c, err)
	}
	if ok, err := VerifyPassword(d, "a"); ok || err != nil {
		t.Errorf("the dummy hash matched a password: %v %v", ok, err)
	}
	d = dummyLike([]string{argon, argon, string(b4)})
	p, _, _, err := parseArgon(d)
	want, _, _, _ := parseArgon(argon)
	if err != nil || p != want {
		t.Errorf("mostly argon2id: %q", d)
	}
}
