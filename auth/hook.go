package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// HookConfig configures an HTTP auth hook (docs/identity.md).
type HookConfig struct {
	URL     string        // http:// or https://; POSTed one JSON request per login
	Timeout time.Duration // for each call; 0: DefaultHookTimeout
	// Cache and NegativeCache are how long an accepting answer, and a
	// refusing or "unknown" one, is reused for the same user, client
	// address, connection kind and password. 0: not cached.
	Cache, NegativeCache time.Duration
	CAFile               string       // PEM certificates trusted besides the system's, for an https URL
	Logger               *slog.Logger // nil: discard
}

// DefaultHookTimeout is a hook call's time limit unless HookConfig says.
const DefaultHookTimeout = 5 * time.Second

// maxHookResponse bounds what is read of a hook's answer.
const maxHookResponse = 64 << 10

// maxHookCache bounds the cached answers.
const maxHookCache = 10000

// Hook is a Source that asks an HTTP service: it POSTs a HookRequest and
// takes a HookResponse. Anything else (no answer within the timeout, a
// status other than 200, a body that is not a HookResponse) is
// ErrUnavailable: the login is refused, never let through.
type Hook struct {
	cfg    HookConfig
	url    string // redacted, for logs
	client *http.Client
	log    *slog.Logger
	key    [32]byte // per-process key of the cached passwords' HMACs

	mu    sync.Mutex
	cache map[hookKey]hookEntry

	now func() time.Time // time.Now; tests move it
}

// HookRequest is what a hook receives.
type HookRequest struct {
	User          string `json:"user"`
	Password      string `json:"password"`
	ClientAddress string `json:"client_address"` // the client's IP address (from a PROXY header when one is trusted)
	Protocol      string `json:"protocol"`       // "ftps" on the implicit FTPS listener, else "ftp"
	TLS           bool   `json:"tls"`            // the control connection is encrypted
}

// HookResponse is what a hook answers, with status 200. Result is
// "accept" (Settings are the user's, with the users file's field names and
// meanings), "reject" (the user is known and refused: no later source is
// asked) or "unknown" (the next source in --auth-order is asked).
type HookResponse struct {
	Result   string `json:"result"`
	Settings *User  `json:"settings,omitempty"`
}

type hookKey struct {
	user   string
	remote netip.Addr
	conn   ConnInfo
	mac    [32]byte // HMAC-SHA256 of the password under Hook.key
}

type hookEntry struct {
	settings User
	err      error // nil: accepted; ErrUnknownUser or a refusal
	expires  time.Time
}

// NewHook checks cfg and returns the hook; it makes no call.
func NewHook(cfg HookConfig) (*Hook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth hook %q: want an http:// or https:// URL", redact(cfg.URL))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHookTimeout
	}
	if cfg.Cache < 0 || cfg.NegativeCache < 0 {
		return nil, errors.New("auth hook: cache durations must not be negative")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pool, err := certPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("auth hook CA: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hook{
		cfg: cfg, url: u.Redacted(), log: log, cache: map[hookKey]hookEntry{}, now: time.Now,
		client: &http.Client{
			Transport: tr,
			// A redirect would send the password on; it is an error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	_, _ = rand.Read(h.key[:])
	return h, nil
}

// certPool is the system's roots plus the PEM certificates in file.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// redact removes a password from a URL for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// Name implements Source.
func (h *Hook) Name() string { return "hook" }

// Lookup implements Source.
func (h *Hook) Lookup(ctx context.Context, l Login) (User, error) {
	mac := hmac.New(sha256.New, h.key[:])
	mac.Write([]byte(l.Password))
	k := hookKey{user: l.User, remote: l.Remote.Unmap().WithZone(""), conn: l.Conn}
	mac.Sum(k.mac[:0])
	if e, ok := h.cached(k); ok {
		return e.settings, e.err
	}
	set, err := h.call(ctx, l)
	var ttl time.Duration
	switch {
	case err == nil:
		ttl = h.cfg.Cache
	case errors.Is(err, ErrUnknownUser) || errors.As(err, new(refusal)):
		ttl = h.cfg.NegativeCache
	default:
		return User{}, err // not cached: the next login asks again
	}
	h.store(k, hookEntry{settings: set, err: err, expires: h.now().Add(ttl)}, ttl)
	return set, err
}

func (h *Hook) cached(k hookKey) (hookEntry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.cache[k]
	if ok && !h.now().Before(e.expires) {
		delete(h.cache, k)
		return hookEntry{}, false
	}
	if ok {
		// A copy: the caller may change the settings it gets.
		e.settings.Permissions = append([]string(nil), e.settings.Permissions...)
		e.settings.AllowedCIDRs = append([]string(nil), e.settings.AllowedCIDRs...)
	}
	return e, ok
}

func (h *Hook) store(k hookKey, e hookEntry, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.cache) >= maxHookCache {
		now := h.now()
		for k, e := range h.cache {
			if !now.Before(e.expires) {
				delete(h.cache, k)
			}
		}
		// Still full: a tenth goes, any entries (map order), so a flood
		// of new keys costs this sweep once per thousand answers.
		for k := range h.cache {
			if len(h.cache) < maxHookCache*9/10 {
				break
			}
			delete(h.cache, k)
		}
	}
	h.cache[k] = e
}

// call asks the hook once.
func (h *Hook) call(ctx context.Context, l Login) (User, error) {
	body, err := json.Marshal(HookRequest{User: l.User, Password: l.Password, ClientAddress: l.Remote.Unmap().WithZone("").String(),
		Protocol: l.Conn.Protocol(), TLS: l.Conn.TLS})
	if err != nil {
		return User{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return User{}, h.unavailable(errors.New("bad request URL"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bucketftp")
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, which may carry a secret
		}
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("no answer within %v: %w", h.cfg.Timeout, err)
		}
		return User{}, h.unavailable(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHookResponse+1))
	switch {
	case err != nil:
		return User{}, h.unavailable(fmt.Errorf("reading the answer: %w", err))
	case resp.StatusCode != http.StatusOK:
		return User{}, h.unavailable(fmt.Errorf("status %s", resp.Status))
	case len(b) > maxHookResponse:
		return User{}, h.unavailable(fmt.Errorf("answer larger than %d bytes", maxHookResponse))
	}
	var r HookResponse
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt setting must not drop a restriction
	if err := dec.Decode(&r); err != nil {
		return User{}, h.unavailable(fmt.Errorf("answer is not a hook response: %w", err))
	}
	if dec.More() {
		return User{}, h.unavailable(errors.New("answer has data after the JSON object"))
	}
	switch r.Result {
	case "accept":
		set := User{}
		if r.Settings != nil {
			set = *r.Settings
		}
		// Checked before it is cached, so a hook fixed after a bad answer
		// is asked again at the next login.
		name := set.Name
		if name == "" {
			name = l.User
		}
		if !strings.EqualFold(name, l.User) {
			return User{}, h.unavailable(fmt.Errorf("settings name %q for user %q", name, l.User))
		}
		set.Name = name
		if _, err := checkSettings(set); err != nil {
			return User{}, h.unavailable(fmt.Errorf("settings: %w", err))
		}
		if set.Name == l.User {
			set.Name = ""
		}
		return set, nil
	case "reject":
		return User{}, Refused("the hook rejected the login")
	case "unknown":
		return User{}, ErrUnknownUser
	}
	return User{}, h.unavailable(fmt.Errorf("answer's result %q is not accept, reject or unknown", r.Result))
}

func (h *Hook) unavailable(err error) error {
	return fmt.Errorf("%w: auth hook %s: %w", ErrUnavailable, h.url, err)
}
