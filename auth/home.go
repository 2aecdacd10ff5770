package auth

import "github.com/bucketftp/bucketftp/storage"

// Home is the user's home in the unscoped storage ("/" for the whole
// store): a name N in the user's view is path.Join(Home(), N) there. The
// front end uses it to name objects in events. Layers the front end puts
// over the user's view (temp-name uploads) are looked through.
func (a *Account) Home() string {
	for b := a.FS; b != nil; {
		if s, ok := b.(*scoped); ok {
			return s.home
		}
		w, ok := b.(storage.Wrapper)
		if !ok {
			break
		}
		b = w.Unwrap()
	}
	return "/"
}
