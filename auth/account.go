// Package auth holds users, password hashes and permissions, and hands the
// FTP front end a storage view scoped to one user's home.
package auth

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/mount"
)

// ErrLoginFailed is returned for any failed login: unknown user, wrong
// password, or an address outside the user's allow list. Callers must not
// tell these apart in replies.
var ErrLoginFailed = errors.New("login incorrect")

// Permission is a set of things a user may do.
type Permission uint16

const (
	PermList      Permission = 1 << iota // LIST, NLST, MLSD, MLST, STAT, SIZE, MDTM
	PermRead                             // RETR
	PermWrite                            // STOR, STOU, APPE: new files, and changes that keep every existing byte (APPE, REST at the size); MFMT on a file this login just uploaded
	PermOverwrite                        // STOR over an existing file, REST below its size, RNTO onto an existing file, MFMT on any file
	PermDelete                           // DELE, RMD
	PermRename                           // RNFR/RNTO
	PermMkdir                            // MKD

	PermAll = PermList | PermRead | PermWrite | PermOverwrite | PermDelete | PermRename | PermMkdir
)

var permNames = []struct {
	name string
	p    Permission
}{
	{"list", PermList}, {"read", PermRead}, {"write", PermWrite}, {"overwrite", PermOverwrite},
	{"delete", PermDelete}, {"rename", PermRename}, {"mkdir", PermMkdir},
}

// ParsePermissions turns the users file's list into a set. An empty list
// means every permission.
func ParsePermissions(names []string) (Permission, error) {
	if len(names) == 0 {
		return PermAll, nil
	}
	var p Permission
	var errs []error
	for _, n := range names {
		found := false
		for _, pn := range permNames {
			if strings.EqualFold(strings.TrimSpace(n), pn.name) {
				p |= pn.p
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("unknown permission %q", n))
		}
	}
	return p, errors.Join(errs...)
}

// String lists the permissions by name, comma separated.
func (p Permission) String() string {
	var s []string
	for _, pn := range permNames {
		if p&pn.p != 0 {
			s = append(s, pn.name)
		}
	}
	return strings.Join(s, ",")
}

// Has reports whether every permission in q is in p.
func (p Permission) Has(q Permission) bool { return p&q == q }

// Account is a logged-in user: their name, their permissions and the storage
// view scoped to their home with those permissions (and their quota)
// enforced, so the front end cannot forget a check.
type Account struct {
	User       string
	Perms      Permission
	RequireTLS bool
	// NameEncoding and ASCII are the user's settings; "" means the
	// server's default.
	NameEncoding string
	ASCII        string
	FS           storage.Backend
	// Bandwidth is what the login's transfers wait on (see BandwidthConfig).
	Bandwidth Bandwidth

	// mounts is the tree of the home and the user's mounts, each a scoped
	// view with its permissions (PermsAt); nil without mounts.
	mounts *mount.Router

	// quota is nil when the user has no quota.
	quota *quota
	// release gives back what the login holds (its address's token
	// buckets, its storage clients); Close runs it once.
	release []func()
}

// PermsAt is what the user may do at p, a path in their view: inside a
// mount (the mount point too) the mount's permissions, elsewhere the
// home's. Perms is the union, for the front end's first check by verb; a
// command that acts on a path checks it there, so that what one mount
// allows (list, read) does not extend to the home or another mount.
func (a *Account) PermsAt(p string) Permission {
	if a.mounts == nil {
		return a.Perms
	}
	if v, ok := a.mounts.Owner(path.Clean("/" + p)).(*scoped); ok {
		return v.perms
	}
	return a.Perms
}

// Close ends the login: what it held is given back. The FTP front end
// calls it when the session logs out or ends; more calls do nothing.
func (a *Account) Close() {
	rel := a.release
	a.release = nil
	for i := len(rel) - 1; i >= 0; i-- {
		rel[i]()
	}
}

// QuotaRemaining reports how many bytes the user may still store. limited is
// false when the user has no quota.
func (a *Account) QuotaRemaining(ctx context.Context) (remaining int64, limited bool, err error) {
	if a.quota == nil {
		return 0, false, nil
	}
	used, err := a.quota.used(ctx)
	if err != nil {
		return 0, true, err
	}
	// The user's interrupted uploads, kept for resuming, count too.
	used += storage.KeptBytes(ctx, a.quota.base, "")
	return max(a.quota.limit-used, 0), true, nil
}
