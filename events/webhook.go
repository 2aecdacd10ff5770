package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// SignatureHeader carries the HMAC-SHA256 of a webhook request's body
// under the shared secret: "sha256=" and the hex digest.
const SignatureHeader = "X-Bucketftp-Signature"

// Webhook posts each event to a URL in CloudEvents HTTP structured mode
// (the whole event as the JSON body, Content-Type
// application/cloudevents+json), signed with SignatureHeader when it has a
// secret. Any 2xx is delivered; anything else, or no answer within the
// timeout, is retried.
type Webhook struct {
	url    string
	secret []byte
	c      *http.Client
}

// NewWebhook makes a Webhook sending to rawURL (http or https); timeout
// bounds each request (default 10s).
func NewWebhook(rawURL string, secret []byte, timeout time.Duration) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("events webhook: want an http:// or https:// URL")
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Webhook{url: rawURL, secret: secret, c: &http.Client{Timeout: timeout}}, nil
}

// Sign is the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret (compared in
// constant time): what a receiver does.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

func (w *Webhook) Send(ctx context.Context, e event.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	resp, err := w.c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold credentials: not in logs
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: HTTP %d", resp.StatusCode)
	}
	return nil
}
